package io.fleetplane.testkit;

import java.time.Duration;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * Waits for behaviour, never for a fixed time: polls a condition until it holds or a deadline
 * passes, then fails with what was expected. The one polling loop every module's tests use.
 */
public final class Eventually {

  private static final long POLL_MILLIS = 20;

  private Eventually() {}

  /**
   * @throws AssertionError when the condition does not hold within {@code timeout}
   */
  public static void await(Duration timeout, BooleanSupplier condition, Supplier<String> whatWasExpected) {
    await(timeout, Duration.ofMillis(POLL_MILLIS), condition, whatWasExpected);
  }

  /**
   * As {@link #await(Duration, BooleanSupplier, Supplier)}, looking every {@code interval}: for
   * conditions that compare two looks (a set that stopped growing) or sample while they wait.
   */
  public static void await(Duration timeout, Duration interval, BooleanSupplier condition,
      Supplier<String> whatWasExpected) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("Not true within " + timeout + ": " + whatWasExpected.get());
      }
      try {
        Thread.sleep(interval.toMillis());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new AssertionError("Interrupted while waiting for: " + whatWasExpected.get(), e);
      }
    }
  }

  /**
   * The other half of waiting for behaviour: a condition that must keep holding (nothing more
   * arrives, nothing breaks) for {@code period}, polled, failing as soon as it does not.
   *
   * @throws AssertionError when the condition is false at any look within {@code period}
   */
  public static void holdsFor(Duration period, BooleanSupplier condition, Supplier<String> whatWasExpected) {
    long end = System.nanoTime() + period.toNanos();
    do {
      if (!condition.getAsBoolean()) {
        throw new AssertionError("Stopped holding within " + period + ": " + whatWasExpected.get());
      }
      try {
        Thread.sleep(POLL_MILLIS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new AssertionError("Interrupted while checking: " + whatWasExpected.get(), e);
      }
    } while (System.nanoTime() < end);
  }
}
