package io.fleetplane.registry;

import com.typesafe.config.Config;
import java.time.Duration;

/** How the registry consumes device events and judges liveness; see reference.conf. */
public record RegistrySettings(
    String consumerGroupId,
    Duration askTimeout,
    int askRetries,
    int maxPartitions,
    int maxInFlightPerPartition,
    int commitMaxBatch,
    Duration commitMaxInterval,
    Duration restartMinBackoff,
    Duration restartMaxBackoff,
    Duration metricsInterval,
    Duration unknownAfter) {

  public static RegistrySettings fromConfig(Config config) {
    Config c = config.getConfig("fleetplane.registry");
    return new RegistrySettings(
        c.getString("consumer-group-id"),
        c.getDuration("ask-timeout"),
        c.getInt("ask-retries"),
        c.getInt("max-partitions"),
        c.getInt("max-in-flight-per-partition"),
        c.getInt("commit.max-batch"),
        c.getDuration("commit.max-interval"),
        c.getDuration("restart.min-backoff"),
        c.getDuration("restart.max-backoff"),
        c.getDuration("metrics-interval"),
        c.getDuration("liveness.unknown-after"));
  }
}
