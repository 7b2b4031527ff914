package io.fleetplane.config;

import com.typesafe.config.Config;
import java.util.Map;
import java.util.TreeMap;

/**
 * Where the Kafka cluster is and what the platform's topics are called. Topic names are a public
 * contract between the bridge, the registry and anyone else on the cluster.
 *
 * @param bootstrapServers comma-separated host:port list
 * @param clientProperties extra properties for every Kafka client (TLS, SASL), passed unchanged
 * @param deviceEventsTopic device updates, keyed by the device session's topic prefix
 * @param deadLettersTopic input that could not be used, with the reason in a header
 * @param deviceEventsPartitions partitions to create for the device events topic when the platform
 *     creates it (local mode, tests); ignored for topics that exist already
 */
public record KafkaSettings(
    String bootstrapServers,
    Map<String, String> clientProperties,
    String deviceEventsTopic,
    String deadLettersTopic,
    int deviceEventsPartitions) {

  public KafkaSettings {
    clientProperties = Map.copyOf(clientProperties);
  }

  public static KafkaSettings fromConfig(Config config) {
    Config kafka = config.getConfig("fleetplane.kafka");
    Map<String, String> clientProperties = new TreeMap<>();
    kafka.getConfig("client-properties").entrySet()
        .forEach(e -> clientProperties.put(e.getKey(), String.valueOf(e.getValue().unwrapped())));
    return new KafkaSettings(
        kafka.getString("bootstrap-servers"),
        clientProperties,
        kafka.getString("topics.device-events"),
        kafka.getString("topics.dead-letters"),
        kafka.getInt("device-events-partitions"));
  }
}
