package io.fleetplane.bridge.domain;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class ProgressWatchTest {

  private static final long S = 1_000_000_000L;

  @Test
  void idleIsNeverStalledHoweverLong() {
    ProgressWatch watch = new ProgressWatch(Duration.ofSeconds(5), 0);
    assertFalse(watch.stalled(1_000 * S));
    assertEquals(Duration.ZERO, watch.waitingFor(1_000 * S));
  }

  @Test
  void theClockStartsWhenABusyPeriodStartsNotAtTheLastAck() {
    ProgressWatch watch = new ProgressWatch(Duration.ofSeconds(5), 0);
    watch.enqueued(100 * S); // first message after a long idle time
    assertFalse(watch.stalled(104 * S));
    assertTrue(watch.stalled(105 * S));
    assertEquals(Duration.ofSeconds(6), watch.waitingFor(106 * S));
  }

  @Test
  void anyAcknowledgementIsProgress() {
    ProgressWatch watch = new ProgressWatch(Duration.ofSeconds(5), 0);
    watch.enqueued(0);
    watch.enqueued(0);
    watch.completed(4 * S);
    assertFalse(watch.stalled(8 * S));
    assertTrue(watch.stalled(9 * S));
    watch.completed(9 * S);
    assertFalse(watch.stalled(100 * S));
    assertEquals(2, watch.highWaterMark());
  }

  @Test
  void abandonedMessagesLeaveTheCount() {
    ProgressWatch watch = new ProgressWatch(Duration.ofSeconds(5), 0);
    watch.enqueued(0);
    watch.enqueued(0);
    watch.enqueued(0);
    watch.abandoned(3, 10 * S);
    assertEquals(0, watch.inFlight());
    assertFalse(watch.stalled(20 * S));
  }
}
