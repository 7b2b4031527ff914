package io.fleetplane.bridge.command;

import java.time.Duration;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/** Waits for behaviour, never for a fixed time: polls a condition until a deadline. */
final class Poll {

  private Poll() {}

  static void until(Duration timeout, BooleanSupplier condition, Supplier<String> expected) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("Not true within " + timeout + ": " + expected.get());
      }
      try {
        Thread.sleep(20);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new AssertionError("Interrupted while waiting for: " + expected.get());
      }
    }
  }
}
