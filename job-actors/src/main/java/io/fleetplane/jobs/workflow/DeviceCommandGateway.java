package io.fleetplane.jobs.workflow;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletionStage;

/**
 * How {@code device-command} steps reach a device: sends one command through the control plane
 * (Kafka, the command bridge, MQTT) and completes with the device's reply. job-actors does not
 * know Kafka or the command store; the node plugs in the implementation
 * ({@link WorkflowEngine#deviceCommands(DeviceCommandGateway)}; http-api's DeviceCommands).
 *
 * <p>At least once, sent once: a step attempt may be dispatched again (recovery after a crash),
 * always with the same {@code idempotencyKey}. The implementation must send at most one command
 * per key and answer a repeated call with that command's reply (or keep waiting for it).
 */
public interface DeviceCommandGateway {

  /**
   * One command.
   *
   * @param idempotencyKey {@code instance:step:attempt}: one command per key, ever
   * @param timeout how long the device has to answer (the command's timeoutMs)
   */
  record CommandRequest(String deviceSessionId, String name, ObjectNode params, Duration timeout,
      String idempotencyKey) {}

  /**
   * How the command ended.
   *
   * @param status the wire status: {@code succeeded}, {@code failed}, {@code rejected}, {@code timed-out}
   * @param source who decided: {@code device}, {@code bridge} or {@code node}
   */
  record CommandReply(String commandId, String status, JsonNode result, Optional<String> errorCode,
      Optional<String> errorMessage, String source) {}

  /**
   * The command can never be sent as asked (unknown device session, a name or params the
   * control plane refuses): a user error, not retried by platform-only retry policies.
   */
  final class CommandRefusedException extends RuntimeException {
    public CommandRefusedException(String message) {
      super(message, null, false, false);
    }
  }

  /**
   * Sends the command (once per idempotency key) and completes with its reply, a
   * {@code timed-out} reply when none came in time, or fails: {@link CommandRefusedException}
   * for requests that cannot succeed, anything else for platform trouble (Kafka or the database
   * away), which the step treats as retryable.
   */
  CompletionStage<CommandReply> send(CommandRequest request);
}
