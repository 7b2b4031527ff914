package io.fleetplane.bridge.domain;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class BackoffTest {

  @Test
  void doublesFromMinUpToMaxWithoutJitter() {
    Backoff backoff = new Backoff(Duration.ofSeconds(1), Duration.ofSeconds(30), 0);
    SplittableRandom random = new SplittableRandom(1);
    assertEquals(Duration.ofSeconds(1), backoff.delay(0, random));
    assertEquals(Duration.ofSeconds(2), backoff.delay(1, random));
    assertEquals(Duration.ofSeconds(16), backoff.delay(4, random));
    assertEquals(Duration.ofSeconds(30), backoff.delay(5, random));
    assertEquals(Duration.ofSeconds(30), backoff.delay(1_000, random));
  }

  @Test
  void jitterStretchesButNeverPassesMax() {
    Backoff backoff = new Backoff(Duration.ofSeconds(1), Duration.ofSeconds(30), 0.2);
    SplittableRandom random = new SplittableRandom(7);
    for (int i = 0; i < 100; i++) {
      Duration d = backoff.delay(2, random);
      assertTrue(d.toMillis() >= 4_000 && d.toMillis() <= 4_800, d.toString());
      assertTrue(backoff.delay(10, random).compareTo(Duration.ofSeconds(30)) <= 0);
    }
  }

  @Test
  void nonsenseIsRejected() {
    assertThrows(IllegalArgumentException.class, () -> new Backoff(Duration.ZERO, Duration.ofSeconds(1), 0));
    assertThrows(IllegalArgumentException.class, () -> new Backoff(Duration.ofSeconds(2), Duration.ofSeconds(1), 0));
    assertThrows(IllegalArgumentException.class, () -> new Backoff(Duration.ofSeconds(1), Duration.ofSeconds(1), 2));
  }
}
