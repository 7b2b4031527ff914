package io.fleetplane.testkit.device;

import java.time.Duration;
import java.util.Objects;

/** What a simulated device does with one command: answer it (maybe after a delay), or not. */
public sealed interface CommandResponse {

  /**
   * Publish a reply.
   *
   * @param status {@code succeeded}, {@code failed} or {@code rejected} (anything else is sent
   *     as is, to test how the cloud treats bad devices)
   * @param result any value Jackson can write, or null
   * @param errorCode with {@code errorMessage}, the reply's {@code error}; null for none
   * @param delay how long to wait before replying (zero replies at once)
   */
  record Reply(String status, Object result, String errorCode, String errorMessage, Duration delay)
      implements CommandResponse {
    public Reply {
      Objects.requireNonNull(status, "status");
      delay = delay == null ? Duration.ZERO : delay;
      if (delay.isNegative()) {
        throw new IllegalArgumentException("delay must not be negative: " + delay);
      }
    }

    public Reply delayedBy(Duration by) {
      return new Reply(status, result, errorCode, errorMessage, delay.plus(by));
    }
  }

  /** Do not reply: the cloud's timeout must answer instead. */
  record NoReply() implements CommandResponse {}
}
