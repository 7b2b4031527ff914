package io.fleetplane.http;

import akka.NotUsed;
import akka.actor.typed.ActorSystem;
import akka.http.javadsl.marshalling.sse.EventStreamMarshalling;
import akka.http.javadsl.model.StatusCodes;
import akka.http.javadsl.model.sse.ServerSentEvent;
import akka.http.javadsl.server.AllDirectives;
import akka.http.javadsl.server.Route;
import akka.persistence.jdbc.query.javadsl.JdbcReadJournal;
import akka.persistence.query.Offset;
import akka.persistence.query.PersistenceQuery;
import akka.persistence.query.Sequence;
import akka.persistence.typed.PersistenceId;
import akka.stream.javadsl.Source;
import io.fleetplane.config.ErrorCode;
import io.fleetplane.config.ids.DeviceSessionId;
import io.fleetplane.config.ids.RaeSerial;
import io.fleetplane.http.auth.Authorization;
import io.fleetplane.http.auth.Caller;
import io.fleetplane.http.auth.Scope;
import io.fleetplane.registry.DeviceSession;
import io.fleetplane.registry.readside.DeviceQueries;
import io.fleetplane.registry.readside.DeviceReadSideRepository;
import io.fleetplane.registry.readside.HistoryPage;
import io.fleetplane.registry.readside.ReadSideStatus;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * {@code GET /api/v1/devices/events}: Server-Sent Events of every message applied to a device
 * session, in journal order, filtered by {@code raeSerial}, {@code session} and {@code attribute}
 * (events that report that attribute) and always by the caller's RAEs.
 *
 * <p>Each event's id is its global journal ordering, so {@code Last-Event-ID} resumes exactly
 * after the last event a client saw, without loss or repeats, from the journal itself (the read
 * side's rows keep only the latest state, which would drop intermediate changes). Without it the
 * stream starts at the newest event. Latency is the read journal's poll
 * ({@code jdbc-read-journal.refresh-interval}). Each client polls on its own: fine for operators'
 * dashboards, not meant for thousands of subscribers.
 */
final class DeviceEventRoutes extends AllDirectives {

  static final String RAE_SERIAL = "raeSerial";
  static final String SESSION = "session";
  static final String ATTRIBUTE = "attribute";
  static final String LAST_EVENT_ID = "Last-Event-ID";
  private static final Duration KEEP_ALIVE = Duration.ofSeconds(15);

  /** One event on the stream. */
  record DeviceEvent(String deviceSessionId, long ordering, DeviceQueryDtos.HistoryItem event) {}

  private record Filters(Optional<String> rae, Optional<String> session, Optional<String> attribute) {}

  private final JdbcReadJournal journal;
  private final DeviceQueries queries;
  private final Authorization auth;

  DeviceEventRoutes(ActorSystem<?> system, DeviceQueries queries, Authorization auth) {
    this.journal = PersistenceQuery.get(system).getReadJournalFor(JdbcReadJournal.class, JdbcReadJournal.Identifier());
    this.queries = queries;
    this.auth = auth;
  }

  /** Relative to {@code /api/v1/devices}. */
  Route routes() {
    return path("events", () -> get(() -> auth.authorize(Scope.DEVICES_READ, caller -> parameterList(params ->
        optionalHeaderValueByName(LAST_EVENT_ID, lastEventId -> {
          Filters filters = filters(params);
          CompletionStage<Long> start = lastEventId.isPresent()
              ? CompletableFuture.completedFuture(parseLastEventId(lastEventId.get()))
              : queries.status().thenApply(ReadSideStatus::newestOrdering);
          return onSuccess(start, from -> completeOK(events(caller, filters, from), EventStreamMarshalling.toEventStream()));
        })))));
  }

  private Source<ServerSentEvent, NotUsed> events(Caller caller, Filters filters, long after) {
    return journal.eventsByTag(DeviceReadSideRepository.TAG, Offset.sequence(after))
        .filter(envelope -> envelope.event() instanceof DeviceSession.MessageApplied applied
            && caller.mayAccess(applied.raeSerial())
            && filters.rae().map(applied.raeSerial()::equals).orElse(true)
            && filters.session().map(PersistenceId.extractEntityId(envelope.persistenceId())::equals).orElse(true)
            && filters.attribute().map(applied.message().attributes()::containsKey).orElse(true))
        .map(envelope -> {
          long ordering = ((Sequence) envelope.offset()).value();
          DeviceEvent event = new DeviceEvent(PersistenceId.extractEntityId(envelope.persistenceId()), ordering,
              DeviceQueryDtos.HistoryItem.from(new HistoryPage.Entry(envelope.sequenceNr(),
                  (DeviceSession.MessageApplied) envelope.event())));
          return ServerSentEvent.create(Json.MAPPER.writeValueAsString(event), "device", Long.toString(ordering));
        })
        .keepAlive(KEEP_ALIVE, ServerSentEvent::heartbeat);
  }

  private static Filters filters(List<Map.Entry<String, String>> parameters) {
    Map<String, String> params = new HashMap<>();
    for (Map.Entry<String, String> p : parameters) {
      String name = p.getKey();
      if (!name.equals(RAE_SERIAL) && !name.equals(SESSION) && !name.equals(ATTRIBUTE)) {
        throw invalid(ErrorCode.REQUEST_INVALID, DeviceQueryParameters.printable(name), "Unknown query parameter '"
            + DeviceQueryParameters.printable(name) + "'. Filters: raeSerial, session, attribute.");
      }
      if (params.put(name, p.getValue()) != null) {
        throw invalid(ErrorCode.REQUEST_INVALID, name, "Query parameter '" + name + "' is given more than once; give it once.");
      }
    }
    Optional<String> rae = Optional.ofNullable(params.get(RAE_SERIAL)).map(v -> RaeSerial.parse(v).map(RaeSerial::value)
        .orElseThrow(() -> invalid(ErrorCode.RAE_SERIAL_INVALID, RAE_SERIAL,
            "RAE serials are 1-64 of [A-Za-z0-9._-] starting with a letter or digit.")));
    Optional<String> session = Optional.ofNullable(params.get(SESSION)).map(v -> DeviceSessionId.parse(v)
        .map(DeviceSessionId::value).orElseThrow(() -> invalid(ErrorCode.DEVICE_SESSION_ID_INVALID, SESSION,
            "Device session ids are lower-case UUIDs.")));
    Optional<String> attribute = Optional.ofNullable(params.get(ATTRIBUTE)).map(v -> {
      if (v.isEmpty() || v.length() > 128) {
        throw invalid(ErrorCode.REQUEST_INVALID, ATTRIBUTE, "attribute is an attribute name of 1-128 characters.");
      }
      return v;
    });
    return new Filters(rae, session, attribute);
  }

  private static long parseLastEventId(String text) {
    try {
      long id = Long.parseLong(text.trim());
      if (id >= 0) {
        return id;
      }
    } catch (NumberFormatException e) {
      // reported below
    }
    throw invalid(ErrorCode.REQUEST_INVALID, LAST_EVENT_ID, "Last-Event-ID must be the id of an event this stream "
        + "sent (a non-negative number); omit it to start at the newest event.");
  }

  private static Problem.ProblemException invalid(ErrorCode code, String field, String detail) {
    return new Problem.ProblemException(Problem.of(StatusCodes.BAD_REQUEST, code, detail, field));
  }
}
