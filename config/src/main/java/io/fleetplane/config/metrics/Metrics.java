package io.fleetplane.config.metrics;

import java.time.Duration;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;
import kamon.Kamon;
import kamon.metric.MeasurementUnit;
import kamon.tag.TagSet;

/**
 * The one way Fleetplane code records metrics. It hides Kamon behind a few verbs so modules do not
 * each learn Kamon's Scala-flavoured API, and so metric names stay in one style
 * ({@code fleetplane_<module>_<what>}, Prometheus-friendly).
 *
 * <p>Counters are also kept as cumulative totals in-process ({@link #count}): Kamon reports deltas
 * per tick, but health checks, the canary verdict and tests need "how many so far" without a
 * scrape round trip.
 */
public final class Metrics {

  private static final Map<String, LongAdder> TOTALS = new ConcurrentHashMap<>();

  private Metrics() {}

  /** Adds {@code n} to a counter. Tags are low-cardinality labels (reason, topic), never ids. */
  public static void increment(String name, long n, Map<String, String> tags) {
    Kamon.counter(name).withTags(tagSet(tags)).increment(n);
    TOTALS.computeIfAbsent(key(name, tags), k -> new LongAdder()).add(n);
  }

  public static void increment(String name, Map<String, String> tags) {
    increment(name, 1, tags);
  }

  public static void increment(String name) {
    increment(name, 1, Map.of());
  }

  /** The cumulative total of a counter since this JVM started (0 if never incremented). */
  public static long count(String name, Map<String, String> tags) {
    LongAdder total = TOTALS.get(key(name, tags));
    return total == null ? 0 : total.sum();
  }

  public static long count(String name) {
    return count(name, Map.of());
  }

  /** Sets a gauge to its current value (queue depth, connection state as 0/1, lag). */
  public static void gauge(String name, Map<String, String> tags, double value) {
    Kamon.gauge(name).withTags(tagSet(tags)).update(value);
  }

  /** Records a duration in a timer (latency distributions: p50/p99 come from the histogram). */
  public static void recordTime(String name, Map<String, String> tags, Duration elapsed) {
    Kamon.timer(name).withTags(tagSet(tags)).record(elapsed);
  }

  /** Records a value in a histogram of plain numbers (bytes, batch sizes). */
  public static void recordValue(String name, Map<String, String> tags, long value) {
    Kamon.histogram(name, MeasurementUnit.none()).withTags(tagSet(tags)).record(value);
  }

  private static TagSet tagSet(Map<String, String> tags) {
    if (tags.isEmpty()) {
      return TagSet.Empty();
    }
    TagSet.Builder builder = TagSet.builder();
    tags.forEach(builder::add);
    return builder.build();
  }

  private static String key(String name, Map<String, String> tags) {
    return tags.isEmpty() ? name : name + new TreeMap<>(tags);
  }
}
