package io.fleetplane.testkit.device;

import java.time.Duration;
import java.util.Map;

/**
 * How a simulated device answers commands: a function from the command received to a
 * {@link CommandResponse}. The factories cover the usual cases; write a lambda for anything else
 * (answer by command name, fail every third command, ...). Called on the simulator's own thread,
 * never on Paho's.
 */
@FunctionalInterface
public interface CommandBehaviour {

  CommandResponse respond(ReceivedCommand command);

  /** Replies {@code succeeded} with this result. */
  static CommandBehaviour succeed(Object result) {
    return command -> new CommandResponse.Reply("succeeded", result, null, null, Duration.ZERO);
  }

  /** Replies {@code succeeded} with {@code {"echo": <params>}}, handy to check params arrived. */
  static CommandBehaviour echo() {
    return command -> new CommandResponse.Reply("succeeded", Map.of("echo", command.params()),
        null, null, Duration.ZERO);
  }

  /** Replies {@code failed} with this error. */
  static CommandBehaviour fail(String code, String message) {
    return command -> new CommandResponse.Reply("failed", null, code, message, Duration.ZERO);
  }

  /** Replies {@code rejected} with this error (the device will not even try). */
  static CommandBehaviour reject(String code, String message) {
    return command -> new CommandResponse.Reply("rejected", null, code, message, Duration.ZERO);
  }

  /** Never replies. */
  static CommandBehaviour ignore() {
    return command -> new CommandResponse.NoReply();
  }

  /** This behaviour, with every reply sent {@code delay} later (past the timeout: a late reply). */
  default CommandBehaviour delayedBy(Duration delay) {
    return command -> {
      CommandResponse response = respond(command);
      return response instanceof CommandResponse.Reply reply ? reply.delayedBy(delay) : response;
    };
  }
}
