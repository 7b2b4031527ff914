package io.fleetplane.bridge.support;

import java.time.Duration;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/** Waiting ({@link io.fleetplane.testkit.Eventually}) and publisher pacing for the bridge ITs. */
public final class Poll {

  private Poll() {}

  public static void until(Duration timeout, BooleanSupplier condition, Supplier<String> expected) {
    io.fleetplane.testkit.Eventually.await(timeout, condition, expected);
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
