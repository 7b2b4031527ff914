package io.fleetplane.config.metrics;

import java.time.Duration;
import java.util.Map;
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
 *
 * <p>Instruments are looked up once per (name, tags) and kept: {@code Kamon.counter(name)} reads
 * the metric's settings from configuration on every call, which showed up as a hot spot (config
 * merging under {@code increment}) when every journaled workflow step and every bridged message
 * counts something. Kamon never drops a registered instrument on its own, so a kept one stays live.
 */
public final class Metrics {

  /** A metric and its tags, as a cache key (tag maps compare by content, whatever their class). */
  private record Key(String name, Map<String, String> tags) {}

  /** A counter's Kamon instrument and its in-process running total. */
  private record CachedCounter(kamon.metric.Counter counter, LongAdder total) {}

  private static final Map<Key, CachedCounter> COUNTERS = new ConcurrentHashMap<>();
  private static final Map<Key, kamon.metric.Gauge> GAUGES = new ConcurrentHashMap<>();
  private static final Map<Key, kamon.metric.Timer> TIMERS = new ConcurrentHashMap<>();
  private static final Map<Key, kamon.metric.Histogram> HISTOGRAMS = new ConcurrentHashMap<>();

  private Metrics() {}

  /** Adds {@code n} to a counter. Tags are low-cardinality labels (reason, topic), never ids. */
  public static void increment(String name, long n, Map<String, String> tags) {
    CachedCounter cached = COUNTERS.computeIfAbsent(new Key(name, Map.copyOf(tags)), k ->
        new CachedCounter(Kamon.counter(k.name()).withTags(tagSet(k.tags())), new LongAdder()));
    cached.counter().increment(n);
    cached.total().add(n);
  }

  public static void increment(String name, Map<String, String> tags) {
    increment(name, 1, tags);
  }

  public static void increment(String name) {
    increment(name, 1, Map.of());
  }

  /** The cumulative total of a counter since this JVM started (0 if never incremented). */
  public static long count(String name, Map<String, String> tags) {
    CachedCounter cached = COUNTERS.get(new Key(name, Map.copyOf(tags)));
    return cached == null ? 0 : cached.total().sum();
  }

  public static long count(String name) {
    return count(name, Map.of());
  }

  /** Sets a gauge to its current value (queue depth, connection state as 0/1, lag). */
  public static void gauge(String name, Map<String, String> tags, double value) {
    GAUGES.computeIfAbsent(new Key(name, Map.copyOf(tags)), k -> Kamon.gauge(k.name()).withTags(tagSet(k.tags()))).update(value);
  }

  /** Records a duration in a timer (latency distributions: p50/p99 come from the histogram). */
  public static void recordTime(String name, Map<String, String> tags, Duration elapsed) {
    TIMERS.computeIfAbsent(new Key(name, Map.copyOf(tags)), k -> Kamon.timer(k.name()).withTags(tagSet(k.tags()))).record(elapsed);
  }

  /** Records a value in a histogram of plain numbers (bytes, batch sizes). */
  public static void recordValue(String name, Map<String, String> tags, long value) {
    HISTOGRAMS.computeIfAbsent(new Key(name, Map.copyOf(tags)), k -> Kamon.histogram(k.name(), MeasurementUnit.none())
        .withTags(tagSet(k.tags()))).record(value);
  }

  private static TagSet tagSet(Map<String, String> tags) {
    if (tags.isEmpty()) {
      return TagSet.Empty();
    }
    TagSet.Builder builder = TagSet.builder();
    tags.forEach(builder::add);
    return builder.build();
  }
}
