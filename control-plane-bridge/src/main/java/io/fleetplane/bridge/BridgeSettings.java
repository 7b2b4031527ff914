package io.fleetplane.bridge;

import com.typesafe.config.Config;
import java.time.Duration;
import java.util.Optional;

/**
 * How the bridge reaches the MQTT broker and how much it may hold in flight. Read from
 * {@code fleetplane.bridge} (see this module's reference.conf for every key's trade-off).
 */
public record BridgeSettings(
    String mqttServerUri,
    String clientId,
    Optional<String> username,
    Optional<String> password,
    String subscriptionFilter,
    Optional<String> sharedSubscriptionGroup,
    Duration sessionExpiry,
    int maxInFlight,
    int maxPayloadBytes,
    String instanceId,
    Duration minBackoff,
    Duration maxBackoff,
    Duration shutdownTimeout) {

  public static BridgeSettings fromConfig(Config config) {
    Config c = config.getConfig("fleetplane.bridge");
    String instanceId = c.getString("instance-id");
    return new BridgeSettings(
        c.getString("mqtt.server-uri"),
        c.getString("mqtt.client-id").isBlank() ? "fleetplane-bridge-" + instanceId
            : c.getString("mqtt.client-id"),
        optional(c, "mqtt.username"),
        optional(c, "mqtt.password"),
        c.getString("mqtt.subscription-filter"),
        optional(c, "mqtt.shared-subscription-group"),
        c.getDuration("mqtt.session-expiry"),
        c.getInt("max-in-flight"),
        (int) c.getBytes("max-payload-size").longValue(),
        instanceId,
        c.getDuration("restart.min-backoff"),
        c.getDuration("restart.max-backoff"),
        c.getDuration("shutdown-timeout"));
  }

  /** The filter actually subscribed: shared ({@code $share/group/...}) when a group is set. */
  public String effectiveSubscription() {
    return sharedSubscriptionGroup
        .map(group -> "$share/" + group + "/" + subscriptionFilter)
        .orElse(subscriptionFilter);
  }

  private static Optional<String> optional(Config c, String path) {
    return c.hasPath(path) && !c.getString(path).isBlank()
        ? Optional.of(c.getString(path)) : Optional.empty();
  }

  @Override
  public String toString() {
    return "BridgeSettings[mqtt=" + mqttServerUri + ", clientId=" + clientId
        + ", subscription=" + effectiveSubscription() + ", maxInFlight=" + maxInFlight
        + ", maxPayloadBytes=" + maxPayloadBytes + ", instanceId=" + instanceId + "]";
  }
}
