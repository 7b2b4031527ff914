package io.fleetplane.http.commands;

import akka.actor.typed.ActorSystem;
import akka.cluster.sharding.typed.javadsl.ClusterSharding;
import io.fleetplane.bridge.command.domain.CommandId;
import io.fleetplane.bridge.command.domain.DeviceCommand;
import io.fleetplane.config.ErrorCode;
import io.fleetplane.config.LogIds;
import io.fleetplane.config.ids.DeviceSessionId;
import io.fleetplane.config.ids.RaeSerial;
import io.fleetplane.config.metrics.Metrics;
import io.fleetplane.jobs.workflow.DeviceCommandGateway;
import io.fleetplane.registry.DeviceSession;
import java.nio.charset.StandardCharsets;
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
 * Workflow {@code device-command} steps through the same path as {@code POST .../commands}: the
 * command is stored pending in {@code device_command} (so it shows at
 * {@code GET /api/v1/devices/{id}/commands/{commandId}}), its waiter registered, then sent to
 * {@code fleet.device-commands}; the replies consumer settles it.
 *
 * <p>Sent once per idempotency key: the command id is a name-based UUID of the key and the
 * stored request id ({@code wf-} + that UUID) is unique per session, so a re-dispatched attempt
 * finds the row its first dispatch stored and waits for that command (or takes its outcome)
 * instead of sending another. If the first dispatch died between storing and sending, the
 * command is never sent and the sweep times it out: the step fails as a platform error and its
 * retry (a new attempt, a new key) sends a new command.
 *
 * <p>Workflows act with the platform's authority: no token, so no RAE restriction; the device
 * session must exist in the registry. Sync waiters count against the node's
 * {@code max-waiting} like HTTP requests (limit the step type to stay below it).
 */
public final class WorkflowCommandGateway implements DeviceCommandGateway {

  private static final Logger log = LoggerFactory.getLogger(WorkflowCommandGateway.class);
  /** {@code issued_by} of workflow commands. */
  public static final String ISSUER = "workflow";

  private final DeviceCommands commands;
  private final ClusterSharding sharding;
  private final Duration askTimeout;

  public WorkflowCommandGateway(ActorSystem<?> system, DeviceCommands commands, Duration askTimeout) {
    this.commands = commands;
    this.sharding = ClusterSharding.get(system);
    this.askTimeout = askTimeout;
  }

  /** The command id of a step attempt: the same key always names the same command. */
  public static String commandIdFor(String idempotencyKey) {
    return UUID.nameUUIDFromBytes(("workflow-step:" + idempotencyKey).getBytes(StandardCharsets.UTF_8)).toString();
  }

  @Override
  public CompletionStage<CommandReply> send(CommandRequest request) {
    Optional<DeviceSessionId> session = DeviceSessionId.parse(request.deviceSessionId());
    if (session.isEmpty()) {
      return refused("'" + request.deviceSessionId() + "' is not a device session id");
    }
    long max = commands.settings().maxTimeout().toMillis();
    if (request.timeout().toMillis() < 1 || request.timeout().toMillis() > max) {
      return refused("timeoutMs must be 1 to " + max + " ms (fleetplane.node.commands.max-timeout), was "
          + request.timeout().toMillis());
    }
    return sharding.entityRefFor(DeviceSession.ENTITY_TYPE_KEY, session.get().value())
        .<DeviceSession.GetReply>ask(DeviceSession.GetSession::new, askTimeout)
        .thenCompose(reply -> reply instanceof DeviceSession.SessionFound found
            ? store(request, session.get(), found.session().raeSerial())
            : refused("device session " + session.get() + " does not exist"));
  }

  private CompletionStage<CommandReply> store(CommandRequest request, DeviceSessionId session, String rae) {
    String commandId = commandIdFor(request.idempotencyKey());
    long now = System.currentTimeMillis();
    DeviceCommand command;
    try {
      command = new DeviceCommand(new CommandId(commandId), new RaeSerial(rae), session, request.name(),
          request.params(), request.timeout().toMillis(), now);
    } catch (IllegalArgumentException e) {
      return refused(e.getMessage());
    }
    byte[] record = command.toRecordJson();
    if (record.length > commands.maxRecordBytes()) {
      return refused("the command is " + record.length + " bytes as a Kafka record; the bridge takes at most "
          + commands.maxRecordBytes());
    }
    Duration wait = request.timeout().plus(commands.settings().replyGrace());
    Optional<CompletableFuture<io.fleetplane.bridge.command.domain.CommandReply>> waiter = commands.waiters().await(commandId, wait);
    if (waiter.isEmpty()) {
      Metrics.increment(DeviceCommands.METRIC_COMMANDS, Map.of("outcome", "rejected"));
      return CompletableFuture.failedFuture(new IllegalStateException("this node already waits for "
          + commands.waiters().max() + " command replies (" + ErrorCode.COMMAND_TOO_MANY_WAITING.code() + ")"));
    }
    Instant at = Instant.ofEpochMilli(now);
    StoredCommand stored = new StoredCommand(commandId, session.value(), rae, request.name(), request.params(),
        request.timeout().toMillis(), Optional.of("wf-" + commandId), ISSUER, StoredCommand.PENDING, at,
        at.plus(request.timeout()), Optional.empty());
    return commands.store().insert(stored).thenCompose(insert -> {
      if (insert instanceof CommandStore.Existing existing) {
        StoredCommand first = existing.command();
        withIds(first, () -> log.info("Command {} of step {} was stored by an earlier dispatch ({}); not sending"
            + " it again", commandId, request.idempotencyKey(), first.status()));
        if (!first.pending()) {
          commands.waiters().cancel(commandId);
          return CompletableFuture.completedFuture(toReply(first.commandId(), first.reply().orElseThrow()));
        }
        return awaitReply(first, waiter.get());
      }
      withIds(stored, () -> log.info("Sending command {} '{}' to session {} for workflow step {} ({} ms)",
          commandId, request.name(), session, request.idempotencyKey(), request.timeout().toMillis()));
      return commands.send(command, record)
          .handle((sent, error) -> Optional.ofNullable(error))
          .thenCompose(error -> error.isPresent() ? notSent(stored, error.get()) : awaitReply(stored, waiter.get()));
    }).whenComplete((reply, error) -> {
      if (error != null) {
        commands.waiters().cancel(commandId);
      }
    });
  }

  private CompletionStage<CommandReply> awaitReply(StoredCommand command,
      CompletableFuture<io.fleetplane.bridge.command.domain.CommandReply> waiter) {
    return waiter.handle((reply, error) -> reply).thenCompose(reply -> {
      if (reply != null) {
        return CompletableFuture.completedFuture(toReply(command.commandId(), DeviceCommands.outcome(reply)));
      }
      // Nothing reached this node in time: another node's consumer may have stored the reply.
      return commands.store().find(command.commandId()).thenApply(latest -> latest.filter(c -> !c.pending())
          .map(c -> toReply(c.commandId(), c.reply().orElseThrow()))
          .orElseGet(() -> new CommandReply(command.commandId(), "timed-out", null,
              Optional.of(ErrorCode.COMMAND_TIMED_OUT.code()), Optional.of("no reply reached the node within "
                  + command.timeoutMs() + " ms plus " + commands.settings().replyGrace().toMillis() + " ms"),
              "node")));
    });
  }

  private CompletionStage<CommandReply> notSent(StoredCommand command, Throwable error) {
    Throwable cause = error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
    Metrics.increment(DeviceCommands.METRIC_COMMANDS, Map.of("outcome", "rejected"));
    StoredCommand.Outcome outcome = new StoredCommand.Outcome("rejected", null,
        Optional.of(ErrorCode.COMMAND_NOT_SENT.code()), Optional.of("Kafka did not take the command: " + cause),
        "node", Instant.now(), Optional.empty());
    return commands.store().complete(command.commandId(), outcome)
        .handle((settled, e) -> toReply(command.commandId(), outcome));
  }

  private static CommandReply toReply(String commandId, StoredCommand.Outcome o) {
    return new CommandReply(commandId, o.status(), o.result(), o.errorCode(), o.errorMessage(), o.source());
  }

  private static <T> CompletionStage<T> refused(String why) {
    Metrics.increment(DeviceCommands.METRIC_COMMANDS, Map.of("outcome", "refused"));
    return CompletableFuture.failedFuture(new CommandRefusedException(why));
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
