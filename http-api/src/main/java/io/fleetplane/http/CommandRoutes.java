package io.fleetplane.http;

import akka.actor.typed.ActorSystem;
import akka.cluster.sharding.typed.javadsl.ClusterSharding;
import akka.http.javadsl.model.HttpResponse;
import akka.http.javadsl.model.StatusCodes;
import akka.http.javadsl.model.headers.Location;
import akka.http.javadsl.server.AllDirectives;
import akka.http.javadsl.server.PathMatchers;
import akka.http.javadsl.server.Route;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fleetplane.bridge.command.domain.CommandId;
import io.fleetplane.bridge.command.domain.CommandReply;
import io.fleetplane.bridge.command.domain.CommandStatus;
import io.fleetplane.bridge.command.domain.DeviceCommand;
import io.fleetplane.config.ErrorCode;
import io.fleetplane.config.LogIds;
import io.fleetplane.config.ids.DeviceSessionId;
import io.fleetplane.config.ids.RaeSerial;
import io.fleetplane.config.metrics.Metrics;
import io.fleetplane.http.auth.Authorization;
import io.fleetplane.http.auth.Caller;
import io.fleetplane.http.auth.Scope;
import io.fleetplane.http.commands.CommandStore;
import io.fleetplane.http.commands.DeviceCommands;
import io.fleetplane.http.commands.StoredCommand;
import io.fleetplane.registry.DeviceSession;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;

/**
 * {@code /api/v1/devices/{deviceSessionId}/commands}: sends a command to a device through the
 * control plane (Kafka, the command bridge, MQTT) and answers its reply (200), 504
 * {@code command.timed-out} when none came in time, or with {@code ?async=true} 202 and the
 * command's URL, where {@code GET .../commands/{commandId}} shows its status and reply.
 *
 * <p>The command is stored (pending) before it is sent, and a sync request registers its waiter
 * before that, so no reply can overtake either. Another RAE's device is a 404 like an unknown one.
 */
final class CommandRoutes extends AllDirectives {

  private static final Logger log = LoggerFactory.getLogger(CommandRoutes.class);
  /** Headroom over timeout + grace before Akka HTTP's own request timeout would answer. */
  private static final Duration REQUEST_TIMEOUT_MARGIN = Duration.ofSeconds(5);

  /**
   * The request body. Unknown fields are 400s (JsonBody). Scalars arrive as JSON nodes and are
   * checked here, because Jackson would quietly coerce {@code "name": 7} to "7" and
   * {@code "timeoutMs": 1.5} to 1.
   */
  record CommandRequest(JsonNode name, ObjectNode params, JsonNode timeoutMs, JsonNode requestId) {}

  /** A command as the API shows it. {@code reply} is null while pending. */
  record CommandDto(String commandId, String deviceSessionId, String raeSerial, String name, JsonNode params,
      long timeoutMs, String requestId, String status, Instant createdAt, Instant deadline, ReplyDto reply) {

    static CommandDto from(StoredCommand c) {
      return new CommandDto(c.commandId(), c.deviceSessionId(), c.raeSerial(), c.name(), c.params(), c.timeoutMs(),
          c.requestId().orElse(null), c.status(), c.createdAt(), c.deadline(), c.reply().map(ReplyDto::from).orElse(null));
    }
  }

  /** How the command ended: the device's answer or the platform's verdict. */
  record ReplyDto(String status, JsonNode result, ErrorDto error, String source, Instant completedAt, Long deviceTs) {
    static ReplyDto from(StoredCommand.Outcome o) {
      return new ReplyDto(o.status(), o.result(),
          o.errorCode().map(code -> new ErrorDto(code, o.errorMessage().orElse(""))).orElse(null),
          o.source(), o.completedAt(), o.deviceTs().orElse(null));
    }
  }

  record ErrorDto(String code, String message) {}

  private final ClusterSharding sharding;
  private final Duration askTimeout;
  private final DeviceCommands commands;
  private final Authorization auth;
  private final JsonBody body;

  CommandRoutes(ActorSystem<?> system, Duration askTimeout, DeviceCommands commands, Authorization auth) {
    this.sharding = ClusterSharding.get(system);
    this.askTimeout = askTimeout;
    this.commands = commands;
    this.auth = auth;
    this.body = JsonBody.fromConfig(system.settings().config());
  }

  Route routes() {
    return pathPrefix("devices", () -> pathPrefix(PathMatchers.segment(), rawId -> pathPrefix("commands", () -> concat(
        pathEnd(() -> post(() -> auth.authorize(Scope.DEVICES_WRITE, caller ->
            parameterOptional("async", async -> submit(DeviceRoutes.parseId(rawId), caller, parseAsync(async)))))),
        path(PathMatchers.segment(), rawCommandId -> get(() -> auth.authorize(Scope.DEVICES_READ, caller ->
            show(DeviceRoutes.parseId(rawId), parseCommandId(rawCommandId), caller))))))));
  }

  // ---------------------------------------------------------------------------------------------
  // POST

  private Route submit(DeviceSessionId id, Caller caller, boolean async) {
    return body.as(CommandRequest.class, request -> {
      String name = name(request);
      long timeoutMs = timeoutMs(request);
      Optional<String> requestId = requestId(request);
      ObjectNode params = request.params() == null ? Json.MAPPER.createObjectNode() : request.params();
      Route send = onSuccess(session(id), found -> {
        if (found.isEmpty() || !caller.mayAccess(found.get().raeSerial())) {
          return complete(DeviceRoutes.notFound(id));
        }
        DeviceCommand command;
        try {
          command = new DeviceCommand(new CommandId(UUID.randomUUID().toString()),
              new RaeSerial(found.get().raeSerial()), id, name, params, timeoutMs, System.currentTimeMillis());
        } catch (IllegalArgumentException e) {
          // The only rule left to break here is the name's.
          throw invalid(e.getMessage(), "name");
        }
        byte[] record = command.toRecordJson();
        if (record.length > commands.maxRecordBytes()) {
          return complete(Problem.of(StatusCodes.PAYLOAD_TOO_LARGE, ErrorCode.PAYLOAD_TOO_LARGE,
              "The command is " + record.length + " bytes as a Kafka record; the bridge takes at most "
                  + commands.maxRecordBytes() + ". Send smaller params.", "params").toResponse());
        }
        return onSuccess(send(command, record, requestId, caller, async), this::complete);
      });
      // A sync request stays open until the reply or the deadline, beyond the server-wide timeout.
      return async ? send : withRequestTimeout(scala.concurrent.duration.FiniteDuration.create(
          Duration.ofMillis(timeoutMs).plus(commands.settings().replyGrace()).plus(REQUEST_TIMEOUT_MARGIN).toMillis(),
          java.util.concurrent.TimeUnit.MILLISECONDS), () -> send);
    });
  }

  private CompletionStage<HttpResponse> send(DeviceCommand command, byte[] record, Optional<String> requestId,
      Caller caller, boolean async) {
    String commandId = command.commandId().value();
    Duration wait = Duration.ofMillis(command.timeoutMs()).plus(commands.settings().replyGrace());
    Optional<CompletableFuture<CommandReply>> waiter = Optional.empty();
    if (!async) {
      waiter = commands.waiters().await(commandId, wait);
      if (waiter.isEmpty()) {
        Metrics.increment(DeviceCommands.METRIC_COMMANDS, Map.of("outcome", "rejected"));
        return CompletableFuture.completedFuture(Problem.of(StatusCodes.SERVICE_UNAVAILABLE,
            ErrorCode.COMMAND_TOO_MANY_WAITING, "This node already waits for " + commands.waiters().max()
                + " command replies; retry after the Retry-After delay, or send with ?async=true and poll.")
            .toResponse());
      }
    }
    Instant now = Instant.ofEpochMilli(command.ts());
    StoredCommand stored = new StoredCommand(commandId, command.deviceSessionId().value(),
        command.raeSerial().value(), command.name(), command.params(), command.timeoutMs(), requestId,
        caller.subject(), StoredCommand.PENDING, now, now.plusMillis(command.timeoutMs()), Optional.empty());
    Optional<CompletableFuture<CommandReply>> mine = waiter;
    return commands.store().insert(stored).thenCompose(insert -> {
      if (insert instanceof CommandStore.Existing existing) {
        mine.ifPresent(w -> commands.waiters().cancel(commandId));
        return repeated(existing.command(), stored, async);
      }
      withIds(stored, () -> log.info("Sending command {} '{}' to session {} for {} ({} ms, {})", commandId,
          command.name(), command.deviceSessionId(), caller.subject(), command.timeoutMs(), async ? "async" : "sync"));
      return commands.send(command, record)
          .handle((sent, error) -> Optional.ofNullable(error))
          .thenCompose(error -> error.isPresent() ? notSent(stored, error.get())
              : async ? CompletableFuture.completedFuture(accepted(stored)) : awaitReply(stored, mine.get()));
    }).exceptionally(error -> {
      // Not stored (or not read back): free the slot now rather than at the deadline.
      commands.waiters().cancel(commandId);
      return storeFailure(error);
    });
  }

  /** The same request id again: the first command stands, and is never sent twice. */
  private CompletionStage<HttpResponse> repeated(StoredCommand existing, StoredCommand attempt, boolean async) {
    if (!existing.name().equals(attempt.name()) || !existing.params().equals(attempt.params())
        || existing.timeoutMs() != attempt.timeoutMs()) {
      return CompletableFuture.completedFuture(Problem.of(StatusCodes.CONFLICT, ErrorCode.COMMAND_REQUEST_ID_CONFLICT,
          "requestId '" + existing.requestId().orElse("") + "' already named command " + existing.commandId()
              + " with other name, params or timeoutMs; use a new requestId for a new command.", "requestId")
          .toResponse());
    }
    if (async) {
      return CompletableFuture.completedFuture(accepted(existing));
    }
    if (!existing.pending()) {
      return CompletableFuture.completedFuture(settled(existing));
    }
    Duration left = Duration.between(Instant.now(), existing.deadline().plus(commands.settings().replyGrace()));
    Optional<CompletableFuture<CommandReply>> waiter = commands.waiters().await(existing.commandId(),
        left.isNegative() ? Duration.ofMillis(1) : left);
    return waiter.<CompletionStage<HttpResponse>>map(w -> awaitReply(existing, w))
        .orElseGet(() -> CompletableFuture.completedFuture(accepted(existing)));
  }

  private CompletionStage<HttpResponse> awaitReply(StoredCommand command, CompletableFuture<CommandReply> waiter) {
    return waiter.handle((reply, error) -> reply).thenCompose(reply -> {
      if (reply != null) {
        return CompletableFuture.completedFuture(answer(command, DeviceCommands.outcome(reply), reply.status()));
      }
      // No reply reached this node in time: another node's consumer may still have stored one.
      return commands.store().find(command.commandId()).thenApply(latest -> latest.filter(c -> !c.pending())
          .map(this::settled)
          .orElseGet(() -> timedOut(command, "no reply reached the node within timeoutMs plus "
              + commands.settings().replyGrace().toMillis() + " ms")));
    });
  }

  private HttpResponse settled(StoredCommand command) {
    StoredCommand.Outcome outcome = command.reply().orElseThrow();
    return answer(command, outcome, CommandStatus.fromWire(outcome.status()).orElse(CommandStatus.FAILED));
  }

  private HttpResponse answer(StoredCommand command, StoredCommand.Outcome outcome, CommandStatus status) {
    StoredCommand done = new StoredCommand(command.commandId(), command.deviceSessionId(), command.raeSerial(),
        command.name(), command.params(), command.timeoutMs(), command.requestId(), command.issuedBy(),
        outcome.status(), command.createdAt(), command.deadline(), Optional.of(outcome));
    if (status == CommandStatus.TIMED_OUT) {
      return timedOut(done, outcome.errorMessage().orElse("no reply by the deadline")
          + outcome.errorCode().map(code -> " (" + code + ")").orElse(""));
    }
    if (status == CommandStatus.REJECTED && "bridge".equals(outcome.source())
        && outcome.errorCode().filter("command.too-many-pending"::equals).isPresent()) {
      return Problem.of(StatusCodes.SERVICE_UNAVAILABLE, ErrorCode.COMMAND_BRIDGE_BUSY,
          "The command bridge holds too many pending commands and did not send this one; retry after the "
              + "Retry-After delay.").toResponse().addHeader(location(done));
    }
    return Json.response(StatusCodes.OK, CommandDto.from(done));
  }

  private HttpResponse timedOut(StoredCommand command, String why) {
    withIds(command, () -> log.info("Command {} to session {} timed out: {}", command.commandId(),
        command.deviceSessionId(), why));
    return Problem.of(StatusCodes.GATEWAY_TIMEOUT, ErrorCode.COMMAND_TIMED_OUT,
        "Device " + command.deviceSessionId() + " did not answer command " + command.commandId() + " within "
            + command.timeoutMs() + " ms: " + why + ". The device may still have acted: check its state "
            + "(GET /api/v1/devices/" + command.deviceSessionId() + ") and the command (Location) before sending it "
            + "again; for slow commands raise timeoutMs or send with ?async=true and poll.")
        .toResponse().addHeader(location(command));
  }

  private HttpResponse accepted(StoredCommand command) {
    return Json.response(StatusCodes.ACCEPTED, CommandDto.from(command)).addHeader(location(command));
  }

  /** Kafka did not take the record: the command was never sent, and the stored row says so. */
  private CompletionStage<HttpResponse> notSent(StoredCommand command, Throwable error) {
    commands.waiters().cancel(command.commandId());
    Throwable cause = error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
    withIds(command, () -> log.warn("Command {} to session {} could not be sent: {}", command.commandId(),
        command.deviceSessionId(), cause.toString()));
    Metrics.increment(DeviceCommands.METRIC_COMMANDS, Map.of("outcome", "rejected"));
    StoredCommand.Outcome outcome = new StoredCommand.Outcome("rejected", null,
        Optional.of(ErrorCode.COMMAND_NOT_SENT.code()), Optional.of("Kafka did not take the command: " + cause),
        "node", Instant.now(), Optional.empty());
    return commands.store().complete(command.commandId(), outcome).handle((d, e) ->
        Problem.of(StatusCodes.SERVICE_UNAVAILABLE, ErrorCode.COMMAND_NOT_SENT,
            "The command could not be handed to the control plane (Kafka) and was not sent; retry after the "
                + "Retry-After delay.").toResponse());
  }

  private static HttpResponse storeFailure(Throwable error) {
    Throwable cause = error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
    if (cause instanceof Problem.ProblemException problem) {
      return problem.problem().toResponse();
    }
    if (!(cause instanceof CommandStore.Saturated)) {
      log.warn("Command store failed: {}", cause.toString());
    }
    return Problem.of(StatusCodes.SERVICE_UNAVAILABLE, ErrorCode.SERVICE_UNAVAILABLE,
        "Commands cannot be stored right now (database busy or unreachable); retry after the Retry-After delay.")
        .toResponse();
  }

  // ---------------------------------------------------------------------------------------------
  // GET

  private Route show(DeviceSessionId id, CommandId commandId, Caller caller) {
    CompletionStage<HttpResponse> response = commands.store().find(commandId.value()).thenApply(found -> found
        .filter(c -> c.deviceSessionId().equals(id.value()) && caller.mayAccess(c.raeSerial()))
        .map(c -> Json.response(StatusCodes.OK, CommandDto.from(c)))
        .orElseGet(() -> Problem.of(StatusCodes.NOT_FOUND, ErrorCode.COMMAND_NOT_FOUND,
            "No command " + commandId + " for device session " + id + " (never sent, expired after "
                + commands.settings().retention() + ", or of a RAE your token does not cover).").toResponse()))
        .exceptionally(CommandRoutes::storeFailure);
    return onSuccess(response, this::complete);
  }

  // ---------------------------------------------------------------------------------------------
  // Input

  private static String name(CommandRequest request) {
    if (request.name() == null || request.name().isNull()) {
      throw invalid("Field 'name' is required: the command's name, e.g. \"reboot\".", "name");
    }
    if (!request.name().isTextual()) {
      throw invalid("Field 'name' must be a string, e.g. \"reboot\".", "name");
    }
    return request.name().asText();
  }

  private long timeoutMs(CommandRequest request) {
    long max = commands.settings().maxTimeout().toMillis();
    JsonNode timeout = request.timeoutMs();
    if (timeout == null || timeout.isNull()) {
      return commands.settings().defaultTimeout().toMillis();
    }
    if (!timeout.isIntegralNumber() || !timeout.canConvertToLong() || timeout.asLong() < 1 || timeout.asLong() > max) {
      throw invalid("timeoutMs must be a whole number of milliseconds from 1 to " + max + ", was "
          + abbreviate(timeout.toString()) + ".", "timeoutMs");
    }
    return timeout.asLong();
  }

  private static Optional<String> requestId(CommandRequest request) {
    JsonNode requestId = request.requestId();
    if (requestId == null || requestId.isNull()) {
      return Optional.empty();
    }
    if (!requestId.isTextual() || CommandId.parse(requestId.asText()).isEmpty()) {
      throw invalid("requestId must be a string of 1-128 of [A-Za-z0-9._:-] starting with a letter or digit "
          + "(a UUID is fine).", "requestId");
    }
    return Optional.of(requestId.asText());
  }

  private static String abbreviate(String text) {
    return text.length() <= 40 ? text : text.substring(0, 40) + "...";
  }

  private static boolean parseAsync(Optional<String> async) {
    return switch (async.orElse("false")) {
      case "true" -> true;
      case "false" -> false;
      default -> throw invalid("Query parameter async must be true or false.", "async");
    };
  }

  private static CommandId parseCommandId(String raw) {
    return CommandId.parse(raw).orElseThrow(() -> new Problem.ProblemException(Problem.of(StatusCodes.BAD_REQUEST,
        ErrorCode.COMMAND_ID_INVALID, "Command ids are 1-128 of [A-Za-z0-9._:-] (the API issues UUIDs); use the "
            + "Location a POST answered.", "commandId")));
  }

  private static Problem.ProblemException invalid(String detail, String field) {
    return new Problem.ProblemException(Problem.of(StatusCodes.BAD_REQUEST, ErrorCode.REQUEST_INVALID,
        DeviceQueryParameters.printable(detail), field));
  }

  private CompletionStage<Optional<DeviceSession.Active>> session(DeviceSessionId id) {
    return sharding.entityRefFor(DeviceSession.ENTITY_TYPE_KEY, id.value())
        .<DeviceSession.GetReply>ask(DeviceSession.GetSession::new, askTimeout)
        .thenApply(reply -> reply instanceof DeviceSession.SessionFound found
            ? Optional.of(found.session()) : Optional.<DeviceSession.Active>empty());
  }

  private static Location location(StoredCommand command) {
    return Location.create("/api/v1/devices/" + command.deviceSessionId() + "/commands/" + command.commandId());
  }

  private static void withIds(StoredCommand command, Runnable logging) {
    MDC.put(LogIds.DEVICE_SESSION_ID, command.deviceSessionId());
    MDC.put(LogIds.COMMAND_ID, command.commandId());
    try {
      logging.run();
    } finally {
      MDC.remove(LogIds.DEVICE_SESSION_ID);
      MDC.remove(LogIds.COMMAND_ID);
    }
  }
}
