package io.fleetplane.registry;

import io.fleetplane.config.metrics.Metrics;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;

/**
 * Publishes the Kafka consumer's own figures (lag per partition, fetch and commit rates) as
 * Fleetplane metrics, from Alpakka's {@code Control.getMetrics()}: lag is what tells an operator
 * whether ingestion keeps up, and the canary reads it to judge a burst.
 */
public final class ConsumerLagMetrics {

  /** Lag over this node's assigned partitions, and when it was read. */
  public record Lag(long sum, long max, int partitions, long atMillis) {}

  private final String topic;
  private final AtomicReference<Lag> latest = new AtomicReference<>(new Lag(0, 0, 0, 0));
  private final java.util.concurrent.atomic.AtomicLong fetched = new java.util.concurrent.atomic.AtomicLong();

  ConsumerLagMetrics(String topic) {
    this.topic = topic;
  }

  public Lag latest() {
    return latest.get();
  }

  /**
   * Records the current consumer has fetched from Kafka (its {@code records-consumed-total}; starts
   * again at 0 when the consumer restarts). Fetched minus persisted is what sits in memory.
   */
  public long recordsFetched() {
    return fetched.get();
  }

  void record(Map<MetricName, Metric> metrics) {
    long sum = 0;
    long max = 0;
    int partitions = 0;
    for (Map.Entry<MetricName, Metric> entry : metrics.entrySet()) {
      MetricName name = entry.getKey();
      double value = numeric(entry.getValue());
      if (Double.isNaN(value)) {
        continue;
      }
      switch (name.name()) {
        case "records-lag" -> {
          String partition = name.tags().get("partition");
          if (partition != null && topic.equals(name.tags().get("topic"))) {
            long lag = (long) value;
            Metrics.gauge("fleetplane_registry_consumer_lag", Map.of("partition", partition), lag);
            sum += lag;
            max = Math.max(max, lag);
            partitions++;
          }
        }
        case "fetch-rate" -> gaugeOnce(name, "fleetplane_registry_fetch_rate", value);
        case "records-per-request-avg" -> gaugeOnce(name, "fleetplane_registry_records_per_fetch", value);
        case "records-consumed-total" -> {
          if (!name.tags().containsKey("topic")) {
            fetched.set((long) value);
          }
        }
        case "commit-rate" -> gaugeOnce(name, "fleetplane_registry_commit_rate", value);
        case "commit-latency-avg" -> gaugeOnce(name, "fleetplane_registry_commit_latency_ms", value);
        default -> { }
      }
    }
    Metrics.gauge("fleetplane_registry_consumer_lag_sum", Map.of(), sum);
    Metrics.gauge("fleetplane_registry_consumer_lag_max", Map.of(), max);
    latest.set(new Lag(sum, max, partitions, System.currentTimeMillis()));
  }

  /** Client-level figures appear once per metric group; take the untagged-by-topic one. */
  private static void gaugeOnce(MetricName name, String gauge, double value) {
    if (!name.tags().containsKey("topic")) {
      Metrics.gauge(gauge, Map.of(), value);
    }
  }

  private static double numeric(Metric metric) {
    Object value = metric.metricValue();
    return value instanceof Number number ? number.doubleValue() : Double.NaN;
  }
}
