package io.fleetplane.bridge.command;

import com.typesafe.config.Config;
import io.fleetplane.bridge.command.domain.CommandTopics;
import java.time.Duration;
import java.util.Optional;

/**
 * Everything the command bridge reads from {@code fleetplane.bridge.commands} (every key's unit
 * and trade-off is commented in this module's reference.conf). The Kafka cluster and the
 * dead-letter topic come from {@code KafkaSettings}.
 */
public record CommandBridgeSettings(
    String instanceId,
    String commandsTopic,
    String repliesTopic,
    int topicPartitions,
    String consumerGroupId,
    String autoOffsetReset,
    String mqttServerUri,
    String mqttClientId,
    Optional<String> mqttUsername,
    Optional<String> mqttPassword,
    Optional<String> sharedSubscriptionGroup,
    Duration sessionExpiry,
    int receiveMaximum,
    Duration publishTimeout,
    int maxParallelPublishes,
    Duration defaultTimeout,
    Duration maxTimeout,
    int maxPending,
    int rememberedOutcomes,
    Duration timeoutCheckInterval,
    int maxCommandBytes,
    int maxReplyBytes,
    Duration commitInterval,
    Duration minBackoff,
    Duration maxBackoff,
    Duration shutdownTimeout) {

  public static final String PATH = "fleetplane.bridge.commands";

  public static CommandBridgeSettings fromConfig(Config config) {
    Config c = config.getConfig(PATH);
    String instanceId = c.getString("instance-id");
    String clientId = c.getString("mqtt.client-id");
    return new CommandBridgeSettings(
        instanceId,
        c.getString("topics.commands"),
        c.getString("topics.replies"),
        c.getInt("topics.partitions"),
        c.getString("consumer-group-id"),
        c.getString("auto-offset-reset"),
        c.getString("mqtt.server-uri"),
        clientId.isBlank() ? "fleetplane-commands-" + instanceId : clientId,
        optional(c, "mqtt.username"),
        optional(c, "mqtt.password"),
        optional(c, "mqtt.shared-subscription-group"),
        c.getDuration("mqtt.session-expiry"),
        c.getInt("mqtt.receive-maximum"),
        c.getDuration("mqtt.publish-timeout"),
        c.getInt("mqtt.max-parallel-publishes"),
        c.getDuration("default-timeout"),
        c.getDuration("max-timeout"),
        c.getInt("max-pending"),
        c.getInt("remembered-outcomes"),
        c.getDuration("timeout-check-interval"),
        (int) c.getBytes("max-command-size").longValue(),
        (int) c.getBytes("max-reply-size").longValue(),
        c.getDuration("commit-interval"),
        c.getDuration("restart.min-backoff"),
        c.getDuration("restart.max-backoff"),
        c.getDuration("shutdown-timeout"));
  }

  /** The reply filter actually subscribed: {@code $share/<group>/...} when a group is set. */
  public String effectiveReplySubscription() {
    return sharedSubscriptionGroup
        .map(group -> "$share/" + group + "/" + CommandTopics.allRepliesFilter())
        .orElse(CommandTopics.allRepliesFilter());
  }

  private static Optional<String> optional(Config c, String path) {
    return c.hasPath(path) && !c.getString(path).isBlank()
        ? Optional.of(c.getString(path)) : Optional.empty();
  }

  /** Never prints the password. */
  @Override
  public String toString() {
    return "CommandBridgeSettings[instance=" + instanceId + ", commands=" + commandsTopic
        + ", replies=" + repliesTopic + ", group=" + consumerGroupId + ", mqtt=" + mqttServerUri
        + ", clientId=" + mqttClientId + ", user=" + mqttUsername.orElse("(anonymous)")
        + ", subscription=" + effectiveReplySubscription() + ", maxPending=" + maxPending
        + ", timeouts=" + defaultTimeout + "/" + maxTimeout + "]";
  }
}
