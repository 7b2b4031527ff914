package io.fleetplane.registry;

import com.typesafe.config.Config;
import java.time.Duration;

/** How the registry consumes device events; see this module's reference.conf. */
public record RegistrySettings(
    String consumerGroupId,
    Duration askTimeout,
    int maxPartitions,
    int commitMaxBatch,
    Duration commitMaxInterval) {

  public static RegistrySettings fromConfig(Config config) {
    Config c = config.getConfig("fleetplane.registry");
    return new RegistrySettings(
        c.getString("consumer-group-id"),
        c.getDuration("ask-timeout"),
        c.getInt("max-partitions"),
        c.getInt("commit.max-batch"),
        c.getDuration("commit.max-interval"));
  }
}
