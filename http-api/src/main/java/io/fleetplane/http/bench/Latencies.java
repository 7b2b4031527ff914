package io.fleetplane.http.bench;

import java.util.Arrays;

/** Latency samples in nanoseconds; percentiles by sorting (benchmarks, not hot paths). */
final class Latencies {
  private long[] samples;
  private int size;

  Latencies(int expected) {
    samples = new long[Math.max(16, expected)];
  }

  synchronized void add(long nanos) {
    if (size == samples.length) {
      samples = Arrays.copyOf(samples, size * 2);
    }
    samples[size++] = nanos;
  }

  synchronized int size() {
    return size;
  }

  /** The q-quantile (0..1) in milliseconds, nearest-rank. */
  synchronized double percentileMillis(double q) {
    if (size == 0) {
      return Double.NaN;
    }
    long[] sorted = Arrays.copyOf(samples, size);
    Arrays.sort(sorted);
    int rank = (int) Math.ceil(q * size) - 1;
    return sorted[Math.max(0, Math.min(size - 1, rank))] / 1e6;
  }
}
