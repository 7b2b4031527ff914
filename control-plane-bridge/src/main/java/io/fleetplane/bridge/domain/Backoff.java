package io.fleetplane.bridge.domain;

import java.time.Duration;
import java.util.random.RandomGenerator;

/**
 * Exponential backoff with jitter for reconnecting to the MQTT broker: {@code min * 2^attempt},
 * capped at {@code max}, stretched by up to {@code randomFactor} so that many bridges that lost
 * the same broker do not all come back in the same millisecond.
 */
public record Backoff(Duration min, Duration max, double randomFactor) {

  public Backoff {
    if (min.isNegative() || min.isZero() || max.compareTo(min) < 0) {
      throw new IllegalArgumentException(
          "backoff needs 0 < min-backoff <= max-backoff, got " + min + " and " + max);
    }
    if (randomFactor < 0 || randomFactor > 1) {
      throw new IllegalArgumentException("random-factor must be between 0 and 1, got " + randomFactor);
    }
  }

  /** The delay before retry number {@code attempt} (0 for the first retry). */
  public Duration delay(int attempt, RandomGenerator random) {
    long minMillis = min.toMillis();
    long maxMillis = max.toMillis();
    // 2^attempt overflows quickly; beyond 30 doublings every realistic delay is capped anyway.
    long base = attempt >= 30 ? maxMillis : Math.min(maxMillis, minMillis << Math.max(0, attempt));
    double jitter = 1 + random.nextDouble() * randomFactor;
    return Duration.ofMillis(Math.min(maxMillis, Math.round(base * jitter)));
  }
}
