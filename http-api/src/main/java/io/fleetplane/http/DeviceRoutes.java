package io.fleetplane.http;

import akka.actor.typed.ActorSystem;
import akka.cluster.sharding.typed.javadsl.ClusterSharding;
import akka.http.javadsl.model.StatusCodes;
import akka.http.javadsl.server.AllDirectives;
import akka.http.javadsl.server.PathMatchers;
import akka.http.javadsl.server.Route;
import com.fasterxml.jackson.databind.JsonNode;
import io.fleetplane.config.ErrorCode;
import io.fleetplane.config.ids.DeviceSessionId;
import io.fleetplane.http.auth.Authorization;
import io.fleetplane.http.auth.Scope;
import io.fleetplane.registry.DeviceSession;
import io.fleetplane.registry.domain.Liveness;
import io.fleetplane.registry.readside.DeviceQueries;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletionStage;

/**
 * {@code /api/v1/devices}: {@code /{id}} reads a device session straight from its actor, so the
 * answer reflects every persisted update; the list, stats and history are
 * {@link DeviceQueryRoutes} (lists read the projection and say how far behind it is).
 */
final class DeviceRoutes extends AllDirectives {

  /** The device as the API shows it; decoupled from the actor's state record on purpose. */
  record DeviceSessionDto(
      String deviceSessionId,
      String raeSerial,
      Map<String, JsonNode> attributes,
      Map<String, Instant> attributesReportedAt,
      String testState,
      String connection,
      Instant connectionAsOf,
      Instant lastHeardAt,
      Instant lastUpdateAt,
      long appliedMessages) {

    static DeviceSessionDto from(String id, DeviceSession.Active s, Duration unknownAfter) {
      Map<String, JsonNode> attributes = new TreeMap<>();
      Map<String, Instant> reportedAt = new TreeMap<>();
      s.attributes().forEach((name, attribute) -> {
        attributes.put(name, attribute.value());
        reportedAt.put(name, Instant.ofEpochMilli(attribute.reportedAtDeviceMillis()));
      });
      Liveness.Status liveness = s.liveness(Instant.now(), unknownAfter);
      return new DeviceSessionDto(id, s.raeSerial(), attributes, reportedAt, s.testState().orElse(null),
          liveness.connection().name(), liveness.asOf(), s.lastHeardAt(), s.lastUpdateAt(), s.appliedMessages());
    }
  }

  private final ClusterSharding sharding;
  private final Duration askTimeout;
  private final Duration unknownAfter;
  private final DeviceQueryRoutes queries;

  private final Authorization auth;
  private final DeviceEventRoutes events;
  private final AskLimiter asks;

  DeviceRoutes(ActorSystem<?> system, Duration askTimeout, Duration unknownAfter, DeviceQueries queries,
      Authorization auth) {
    this.sharding = ClusterSharding.get(system);
    this.askTimeout = askTimeout;
    this.unknownAfter = unknownAfter;
    this.auth = auth;
    this.queries = new DeviceQueryRoutes(queries, auth);
    this.events = new DeviceEventRoutes(system, queries, auth);
    this.asks = AskLimiter.fromConfig(system.settings().config());
  }

  Route routes() {
    // Built once; the supplier below only hands it out (a supplier runs per request).
    Route all = concat(
        queries.routes(),
        events.routes(),
        path(PathMatchers.segment(), rawId -> get(() -> auth.authorize(Scope.DEVICES_READ, caller -> {
          DeviceSessionId id = parseId(rawId);
          return asks.admit(id.value(), () -> onSuccess(getSession(id), reply -> {
            // Another RAE's device is answered exactly like an unknown one: its existence is not revealed.
            if (reply instanceof DeviceSession.SessionFound found && caller.mayAccess(found.session().raeSerial())) {
              return complete(Json.response(StatusCodes.OK, DeviceSessionDto.from(id.value(), found.session(), unknownAfter)));
            }
            return complete(notFound(id));
          }));
        }))));
    return pathPrefix("devices", () -> all);
  }

  static akka.http.javadsl.model.HttpResponse notFound(DeviceSessionId id) {
    return Problem.of(StatusCodes.NOT_FOUND, ErrorCode.DEVICE_NOT_FOUND,
        "No device session " + id + " has reported yet (or it belongs to a RAE your token does not cover).")
        .toResponse();
  }

  /** A path's session id, or a 400 naming {@code deviceSessionId}. */
  static DeviceSessionId parseId(String rawId) {
    return DeviceSessionId.parse(rawId).orElseThrow(() -> new Problem.ProblemException(
        Problem.of(StatusCodes.BAD_REQUEST, ErrorCode.DEVICE_SESSION_ID_INVALID,
            "Device session ids are lower-case UUIDs, e.g. 3f2b8c1e-9a4d-4e7b-8c2a-1d5e6f7a8b9c.",
            "deviceSessionId")));
  }

  private CompletionStage<DeviceSession.GetReply> getSession(DeviceSessionId id) {
    return sharding.entityRefFor(DeviceSession.ENTITY_TYPE_KEY, id.value())
        .ask(DeviceSession.GetSession::new, askTimeout);
  }
}
