package io.fleetplane.bridge;

import com.typesafe.config.Config;
import io.fleetplane.bridge.domain.Backoff;
import io.fleetplane.bridge.domain.DeviceToCloudTopics;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

/**
 * Everything the device-to-cloud bridge reads from {@code fleetplane.bridge}: how it reaches the
 * MQTT broker, how much it may hold in flight, how its Kafka producer waits out outages, and where
 * its standalone process serves health and metrics. This module's reference.conf explains each
 * key's unit and trade-off. {@link #fromConfig} rejects values that cannot work with a message
 * naming the key, so a bad deployment fails at start-up rather than in the middle of the night.
 *
 * @param instanceId names this bridge in Kafka headers, logs and its default MQTT client id
 * @param maxInFlight MQTT 5 receive-maximum: messages received but not yet acknowledged by Kafka
 * @param maxInFlightBytes payload bytes of those messages the bridge holds at most (one message
 *     is always taken, however large)
 * @param maxPayloadBytes larger payloads are dead-lettered ({@code payload.too-large})
 * @param kafkaStallTimeout health is degraded when in-flight messages wait this long for Kafka
 * @param restart backoff for reconnecting to the broker and restarting the Kafka stream
 * @param shutdownTimeout how long a graceful stop waits for in-flight messages to reach Kafka
 * @param deadLetterLogInterval at most one WARN per dead-letter reason per interval
 */
public record BridgeSettings(
    String instanceId,
    Mqtt mqtt,
    int maxInFlight,
    long maxInFlightBytes,
    int maxPayloadBytes,
    Duration kafkaStallTimeout,
    Producer producer,
    Backoff restart,
    Duration shutdownTimeout,
    Duration deadLetterLogInterval,
    Http http) {

  /** MQTT 5 encodes receive-maximum in two bytes. */
  static final int MAX_RECEIVE_MAXIMUM = 65_535;
  /**
   * Kafka's default record size limit is 1 MiB (producer {@code max.request.size}, topic
   * {@code max.message.bytes}); a payload must fit with its key and headers or the producer
   * fails the stream on it every time it is redelivered.
   */
  static final int MAX_PAYLOAD_LIMIT = 960 * 1024;

  /**
   * How the bridge connects to the broker.
   *
   * @param clientId names the persistent session on the broker: stable per instance, unique
   * @param sharedSubscriptionGroup MQTT 5 shared-subscription group, when instances share load
   * @param sessionExpiry how long the broker keeps the session (and its backlog) while away
   * @param maximumPacketSize MQTT 5 maximum packet size sent to the broker (0: no limit)
   */
  public record Mqtt(
      String serverUri,
      String clientId,
      Optional<String> username,
      Optional<String> password,
      Optional<String> sharedSubscriptionGroup,
      Duration sessionExpiry,
      Duration keepAlive,
      Duration connectTimeout,
      int maximumPacketSize) {

    /** The three device-to-cloud filters as subscribed (with the {@code $share} prefix if any). */
    public List<String> subscriptions() {
      return DeviceToCloudTopics.filters(sharedSubscriptionGroup);
    }

    @Override
    public String toString() {
      // Never print the password.
      return "Mqtt[" + serverUri + ", clientId=" + clientId + ", user=" + username.orElse("(anonymous)")
          + ", subscriptions=" + subscriptions() + "]";
    }
  }

  /**
   * How the Kafka producer behaves while Kafka is slow or away (see reference.conf for why).
   *
   * @param deliveryTimeout how long a record may wait for Kafka before the stream restarts
   * @param maxBlock how long {@code send()} may block a producer thread waiting for metadata
   * @param requestTimeout how long one produce request may wait for the broker's answer
   * @param linger how long the producer waits to fill a batch
   * @param batchSizeBytes the most bytes of records the producer sends per partition in one batch
   * @param closeTimeout how long closing a producer waits to flush
   */
  public record Producer(
      Duration deliveryTimeout,
      Duration maxBlock,
      Duration requestTimeout,
      Duration linger,
      int batchSizeBytes,
      Duration closeTimeout) {}

  /** Where the standalone process ({@link BridgeMain}) serves {@code /health} and {@code /metrics}. */
  public record Http(boolean enabled, String host, int port) {}

  public static BridgeSettings fromConfig(Config config) {
    Config c = config.getConfig("fleetplane.bridge");
    String instanceId = c.getString("instance-id").trim();
    require(!instanceId.isEmpty() && instanceId.chars().noneMatch(Character::isWhitespace),
        "instance-id", "must be a non-empty name without spaces", instanceId);

    Optional<String> group = optional(c, "mqtt.shared-subscription-group");
    group.ifPresent(g -> require(DeviceToCloudTopics.isValidGroup(g), "mqtt.shared-subscription-group",
        "must be one topic level without '/', '+' or '#'", g));
    Mqtt mqtt = new Mqtt(
        c.getString("mqtt.server-uri"),
        optional(c, "mqtt.client-id").orElse("fleetplane-bridge-" + instanceId),
        optional(c, "mqtt.username"),
        optional(c, "mqtt.password"),
        group,
        c.getDuration("mqtt.session-expiry"),
        c.getDuration("mqtt.keep-alive"),
        c.getDuration("mqtt.connect-timeout"),
        (int) Math.min(Integer.MAX_VALUE, c.getBytes("mqtt.maximum-packet-size")));
    require(mqtt.serverUri().matches("(tcp|ssl|ws|wss)://.+"), "mqtt.server-uri",
        "must look like tcp://host:port or ssl://host:port", mqtt.serverUri());
    require(mqtt.sessionExpiry().toSeconds() > 0, "mqtt.session-expiry",
        "must be positive: a zero expiry discards unacknowledged messages when the bridge restarts",
        mqtt.sessionExpiry());

    int maxInFlight = c.getInt("max-in-flight");
    require(maxInFlight >= 1 && maxInFlight <= MAX_RECEIVE_MAXIMUM, "max-in-flight",
        "must be 1-65535 (it is sent as MQTT 5 receive-maximum)", maxInFlight);
    long maxInFlightBytes = c.getBytes("max-in-flight-bytes");
    require(maxInFlightBytes >= 1, "max-in-flight-bytes", "must be at least 1 byte", maxInFlightBytes);
    long maxPayload = c.getBytes("max-payload-size");
    require(maxPayload >= 1 && maxPayload <= MAX_PAYLOAD_LIMIT, "max-payload-size",
        "must be 1 B to 960 KiB so a record fits Kafka's default 1 MiB limit", maxPayload);
    require(mqtt.maximumPacketSize() == 0 || mqtt.maximumPacketSize() > maxPayload,
        "mqtt.maximum-packet-size", "must be 0 (no limit) or larger than max-payload-size ("
            + maxPayload + " bytes), or oversized payloads are dropped by the broker instead of"
            + " dead-lettered", mqtt.maximumPacketSize());

    Producer producer = new Producer(
        c.getDuration("kafka-producer.delivery-timeout"),
        c.getDuration("kafka-producer.max-block"),
        c.getDuration("kafka-producer.request-timeout"),
        c.getDuration("kafka-producer.linger"),
        (int) c.getBytes("kafka-producer.batch-size").longValue(),
        c.getDuration("kafka-producer.close-timeout"));
    // Kafka refuses to create a producer otherwise; say so here, with the keys to change.
    require(producer.deliveryTimeout().compareTo(producer.requestTimeout().plus(producer.linger())) >= 0,
        "kafka-producer.delivery-timeout", "must be at least kafka-producer.request-timeout + linger",
        producer.deliveryTimeout());

    Backoff restart;
    try {
      restart = new Backoff(c.getDuration("restart.min-backoff"), c.getDuration("restart.max-backoff"),
          c.getDouble("restart.random-factor"));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("fleetplane.bridge.restart: " + e.getMessage(), e);
    }
    Http http = new Http(c.getBoolean("http.enabled"), c.getString("http.host"), c.getInt("http.port"));
    require(http.port() >= 0 && http.port() <= 65535, "http.port", "must be 0 (any free port) to 65535",
        http.port());

    return new BridgeSettings(instanceId, mqtt, maxInFlight, maxInFlightBytes, (int) maxPayload,
        positive(c, "kafka-stall-timeout"), producer, restart, positive(c, "shutdown-timeout"),
        positive(c, "dead-letter-log-interval"), http);
  }

  private static Duration positive(Config c, String key) {
    Duration d = c.getDuration(key);
    require(!d.isNegative() && !d.isZero(), key, "must be a positive duration", d);
    return d;
  }

  private static void require(boolean ok, String key, String rule, Object actual) {
    if (!ok) {
      throw new IllegalArgumentException("fleetplane.bridge." + key + " " + rule + ", got '" + actual
          + "': fix it in application.conf, with -Dfleetplane.bridge." + key + "=..., or through its"
          + " environment variable (reference.conf of control-plane-bridge lists them)");
    }
  }

  private static Optional<String> optional(Config c, String path) {
    return c.hasPath(path) && !c.getString(path).isBlank()
        ? Optional.of(c.getString(path).trim()) : Optional.empty();
  }

  @Override
  public String toString() {
    return "BridgeSettings[instanceId=" + instanceId + ", " + mqtt + ", maxInFlight=" + maxInFlight
        + ", maxInFlightBytes=" + maxInFlightBytes
        + ", maxPayloadBytes=" + maxPayloadBytes + ", kafkaStallTimeout=" + kafkaStallTimeout + "]";
  }
}
