package io.fleetplane.bridge.support;

import static org.junit.jupiter.api.Assertions.fail;

import java.time.Duration;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/** Waits for behaviour with a deadline: tests never assert after a fixed sleep. */
public final class Poll {

  private Poll() {}

  public static void until(Duration timeout, BooleanSupplier condition, Supplier<String> expected) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        fail("Not true within " + timeout + ": " + expected.get());
      }
      pause(20);
    }
  }

  public static void pause(long millis) {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    }
  }
}
