package io.fleetplane.bridge;

import io.fleetplane.config.metrics.Metrics;
import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import java.util.List;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAccumulator;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.DoubleSupplier;

/**
 * The bridge's metric names and the one place that records them (through {@link Metrics}, so
 * Kamon reporters see everything), plus a Prometheus text rendering of the bridge's own series
 * for the standalone process's {@code GET /metrics}.
 *
 * <p>Why a rendering of our own instead of Kamon's Prometheus reporter: the reporter publishes
 * only on Kamon's tick and needs Kamon's modules started (which by default also bind a second
 * HTTP server on 0.0.0.0). The bridge's counters are cumulative totals in {@link Metrics} already,
 * so {@code /metrics} reads them directly: always current, no extra port, no agent. Counters are
 * per JVM (two bridges in one JVM share them); gauges belong to one bridge.
 *
 * <p>Tags are low-cardinality only ({@code direction}, {@code channel}, {@code reason}), never a
 * device or session id.
 */
public final class BridgeMetrics {

  public static final String DIRECTION = "direction";
  /** The {@code direction} of this half of the bridge; the command path uses cloud-to-device. */
  public static final String DEVICE_TO_CLOUD = "device-to-cloud";

  /** MQTT messages received (redeliveries included), by direction. */
  public static final String MESSAGES_IN = "fleetplane_bridge_messages_in";
  /** Payload bytes received, by direction. */
  public static final String BYTES_IN = "fleetplane_bridge_bytes_in";
  /**
   * Messages out: delivered to the other side (for device-to-cloud, records Kafka acknowledged on
   * the device events topic), by direction and channel. The name predates the in/out pair and
   * dashboards and the node's tests use it, so it stays.
   */
  public static final String MESSAGES_OUT = "fleetplane_bridge_messages_forwarded";
  /** Payload bytes out (acknowledged by Kafka on the device events topic), by direction. */
  public static final String BYTES_OUT = "fleetplane_bridge_bytes_forwarded";
  /** Records Kafka acknowledged on the dead-letter topic, by reason (error code). */
  public static final String DEAD_LETTERS = "fleetplane_bridge_dead_letters";
  /** Where a record's trace context came from: {@code device} or {@code generated}. */
  public static final String TRACE_CONTEXT = "fleetplane_bridge_trace_context";
  /** Messages received from MQTT and not yet acknowledged by Kafka (gauge). */
  public static final String IN_FLIGHT = "fleetplane_bridge_in_flight";
  /** 1 while in-flight messages have waited longer than the stall timeout for Kafka (gauge). */
  public static final String KAFKA_STALLED = "fleetplane_bridge_kafka_stalled";
  /** Time from handing a record to the producer until Kafka acknowledged it (timer). */
  public static final String KAFKA_PRODUCE_LATENCY = "fleetplane_bridge_kafka_produce_latency";
  /**
   * Times the MQTT intake paused because {@code max-in-flight} messages were waiting for Kafka:
   * back-pressure at work (Kafka slow or down, or a broker that ignores receive-maximum).
   */
  public static final String INTAKE_PAUSES = "fleetplane_bridge_intake_pauses";
  /** Restarts of the Kafka stream after a producer failure. */
  public static final String KAFKA_STREAM_RESTARTS = "fleetplane_bridge_kafka_stream_restarts";
  /** 1 while connected and subscribed to the MQTT broker (gauge). */
  public static final String MQTT_CONNECTED = "fleetplane_bridge_mqtt_connected";
  /** Successful connections after the first one. */
  public static final String MQTT_RECONNECTS = "fleetplane_bridge_mqtt_reconnects";
  /** Failed connection attempts and lost connections. */
  public static final String MQTT_CONNECTION_FAILURES = "fleetplane_bridge_mqtt_connection_failures";
  /** Reconnects the bridge made on purpose so that the broker resends unacknowledged messages. */
  public static final String REDELIVERY_REQUESTS = "fleetplane_bridge_redelivery_requests";
  /**
   * Messages whose MQTT connection was gone before they could be acknowledged; the broker
   * resends them on the new connection (at-least-once: Kafka may hold them twice).
   */
  public static final String STALE_MESSAGES = "fleetplane_bridge_stale_messages";
  /**
   * Polite disconnects (graceful stop, redelivery reconnect) made before the broker confirmed it
   * had handled the last acknowledgements: it may resend those messages (duplicates in Kafka).
   */
  public static final String UNCONFIRMED_DISCONNECTS = "fleetplane_bridge_unconfirmed_disconnects";

  static final Map<String, String> INBOUND = Map.of(DIRECTION, DEVICE_TO_CLOUD);

  /** Every counter series recorded so far, keyed by (name, tags) as given. */
  private static final Map<List<Object>, Series> COUNTERS = new ConcurrentHashMap<>();
  private static final LongAdder LATENCY_COUNT = new LongAdder();
  private static final LongAdder LATENCY_SUM_NANOS = new LongAdder();
  private static final LongAccumulator LATENCY_MAX_NANOS = new LongAccumulator(Math::max, 0);

  private final Map<Series, DoubleSupplier> gauges = new ConcurrentHashMap<>();

  private record Series(String name, SortedMap<String, String> tags) {
    Series(String name, Map<String, String> tags) {
      this(name, (SortedMap<String, String>) new TreeMap<>(tags));
    }
  }

  /** Adds to a counter and remembers the series for {@link #prometheusText()}. */
  public static void count(String name, Map<String, String> tags, long n) {
    if (n <= 0) {
      return;
    }
    Metrics.increment(name, n, tags);
    COUNTERS.computeIfAbsent(List.of(name, tags), k -> new Series(name, tags));
  }

  public static void count(String name, Map<String, String> tags) {
    count(name, tags, 1);
  }

  /** The cumulative total of a counter in this JVM. */
  public static long total(String name, Map<String, String> tags) {
    return Metrics.count(name, tags);
  }

  static void recordProduceLatency(Duration elapsed) {
    Metrics.recordTime(KAFKA_PRODUCE_LATENCY, INBOUND, elapsed);
    long nanos = elapsed.toNanos();
    LATENCY_COUNT.increment();
    LATENCY_SUM_NANOS.add(nanos);
    LATENCY_MAX_NANOS.accumulate(nanos);
  }

  /** Registers a live gauge of this bridge; {@link #publishGauges()} pushes it to Kamon. */
  void gauge(String name, Map<String, String> tags, DoubleSupplier value) {
    gauges.put(new Series(name, tags), value);
  }

  /** Copies every live gauge into Kamon (called on a timer: gauges are sampled, not evented). */
  void publishGauges() {
    gauges.forEach((series, value) -> Metrics.gauge(series.name(), series.tags(), value.getAsDouble()));
  }

  /** The bridge's series in the Prometheus text exposition format (version 0.0.4). */
  public String prometheusText() {
    StringBuilder out = new StringBuilder(4096);
    Map<String, TreeMap<String, Double>> counters = new TreeMap<>();
    for (Series s : COUNTERS.values()) {
      counters.computeIfAbsent(s.name() + "_total", k -> new TreeMap<>())
          .put(labels(s.tags()), (double) Metrics.count(s.name(), s.tags()));
    }
    counters.forEach((name, samples) -> family(out, name, "counter", samples));

    Map<String, TreeMap<String, Double>> gaugeFamilies = new TreeMap<>();
    gauges.forEach((s, value) -> gaugeFamilies.computeIfAbsent(s.name(), k -> new TreeMap<>())
        .put(labels(s.tags()), value.getAsDouble()));
    gaugeFamilies.put("fleetplane_bridge_jvm_heap_used_bytes", new TreeMap<>(Map.of("",
        (double) ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed())));
    gaugeFamilies.forEach((name, samples) -> family(out, name, "gauge", samples));

    String latency = KAFKA_PRODUCE_LATENCY + "_seconds";
    String tags = labels(INBOUND);
    out.append("# TYPE ").append(latency).append(" summary\n")
        .append(latency).append("_count").append(tags).append(' ').append(LATENCY_COUNT.sum()).append('\n')
        .append(latency).append("_sum").append(tags).append(' ')
        .append(number(LATENCY_SUM_NANOS.sum() / 1e9)).append('\n');
    out.append("# TYPE ").append(latency).append("_max gauge\n")
        .append(latency).append("_max").append(tags).append(' ')
        .append(number(LATENCY_MAX_NANOS.get() / 1e9)).append('\n');
    return out.toString();
  }

  private static void family(StringBuilder out, String name, String type, Map<String, Double> samples) {
    out.append("# TYPE ").append(name).append(' ').append(type).append('\n');
    samples.forEach((labels, value) -> out.append(name).append(labels).append(' ')
        .append(number(value)).append('\n'));
  }

  private static String labels(Map<String, String> tags) {
    if (tags.isEmpty()) {
      return "";
    }
    StringBuilder b = new StringBuilder("{");
    tags.forEach((k, v) -> {
      if (b.length() > 1) {
        b.append(',');
      }
      b.append(k).append("=\"").append(v.replace("\\", "\\\\").replace("\"", "\\\"")
          .replace("\n", "\\n")).append('"');
    });
    return b.append('}').toString();
  }

  private static String number(double value) {
    return value == Math.rint(value) && Math.abs(value) < 1e15
        ? Long.toString((long) value) : String.format(Locale.ROOT, "%.6f", value);
  }
}
