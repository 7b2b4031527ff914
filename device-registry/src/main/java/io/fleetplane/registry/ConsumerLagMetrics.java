package io.fleetplane.registry;

import io.fleetplane.config.metrics.Metrics;
import java.util.Comparator;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.TopicPartition;

/**
 * Publishes the registry consumer's lag and its own client figures (fetch and commit rates) as
 * Fleetplane metrics: lag is what tells an operator whether ingestion keeps up, and the canary
 * reads it to judge a burst.
 *
 * <p>Lag is log-end offset minus the group's committed offset, per partition this node holds. The
 * consumer's own {@code records-lag} is not used for it: that figure is taken at each fetch, and a
 * back-pressured consumer pauses its partitions and stops fetching, so it kept reading near zero
 * while a burst of tens of thousands of records waited (seen in every canary run). Committed
 * offsets move only once records are persisted, so this lag counts what is truly not yet applied.
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

  /** The partitions this node's consumer holds now (those its client reports a fetch lag for). */
  Set<TopicPartition> assigned(Map<MetricName, Metric> metrics) {
    Set<TopicPartition> partitions = new TreeSet<>(Comparator.comparingInt(TopicPartition::partition));
    for (MetricName name : metrics.keySet()) {
      String partition = name.tags().get("partition");
      if (name.name().equals("records-lag") && partition != null && topic.equals(name.tags().get("topic"))) {
        partitions.add(new TopicPartition(topic, Integer.parseInt(partition)));
      }
    }
    return partitions;
  }

  /**
   * Records lag per held partition: log-end minus committed offset (a partition never committed
   * counts from its start offset, which the caller passes as the committed one).
   */
  void recordLag(Map<TopicPartition, Long> endOffsets, Map<TopicPartition, Long> committedOffsets) {
    long sum = 0;
    long max = 0;
    for (Map.Entry<TopicPartition, Long> end : endOffsets.entrySet()) {
      long lag = Math.max(0, end.getValue() - committedOffsets.getOrDefault(end.getKey(), 0L));
      Metrics.gauge("fleetplane_registry_consumer_lag",
          Map.of("partition", String.valueOf(end.getKey().partition())), lag);
      sum += lag;
      max = Math.max(max, lag);
    }
    Metrics.gauge("fleetplane_registry_consumer_lag_sum", Map.of(), sum);
    Metrics.gauge("fleetplane_registry_consumer_lag_max", Map.of(), max);
    latest.set(new Lag(sum, max, endOffsets.size(), System.currentTimeMillis()));
  }

  /** The consumer client's own rates and counts (not its lag: see the class comment). */
  void recordClientMetrics(Map<MetricName, Metric> metrics) {
    for (Map.Entry<MetricName, Metric> entry : metrics.entrySet()) {
      MetricName name = entry.getKey();
      double value = numeric(entry.getValue());
      if (Double.isNaN(value)) {
        continue;
      }
      switch (name.name()) {
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
