package io.fleetplane.testkit.device;

import java.time.Duration;
import java.util.concurrent.ScheduledExecutorService;
import java.util.function.Consumer;

/**
 * One simulated device's MQTT connection, whatever the protocol version: the simulator's logic
 * stays the same for MQTT 5 and 3.1.1, and only this seam differs.
 */
sealed interface DeviceConnection permits V5DeviceConnection, V3DeviceConnection {

  /**
   * A message received; {@code responseTopic} and {@code correlationData} are MQTT 5 properties,
   * always null on MQTT 3.1.1.
   */
  record Incoming(String topic, byte[] payload, String responseTopic, byte[] correlationData) {}

  /**
   * Everything a connection needs to know about the device and the broker; {@code sharedThreads},
   * when not null, runs the client's loops and pings instead of threads of its own
   * ({@link MqttClientThreads}).
   */
  record Options(
      String serverUri,
      String clientId,
      String username,
      String password,
      boolean cleanStart,
      Duration timeout,
      Consumer<Incoming> onMessage,
      ScheduledExecutorService sharedThreads) {}

  static DeviceConnection create(MqttProtocol protocol, Options options) {
    return protocol == MqttProtocol.MQTT_5
        ? new V5DeviceConnection(options) : new V3DeviceConnection(options);
  }

  /** @throws DeviceMqttException when the broker refuses (credentials) or cannot be reached */
  void connect();

  void subscribe(String filter, int qos);

  /**
   * Publishes and waits for the broker's acknowledgement (QoS 1).
   *
   * @param correlationData sent as the MQTT 5 correlation data; ignored on MQTT 3.1.1
   * @throws DeviceMqttException when the broker refuses the publish (MQTT 5 only: a 3.1.1
   *     broker acknowledges even what its ACL drops)
   */
  default void publish(String topic, byte[] payload, int qos, byte[] correlationData) {
    try {
      publishAsync(topic, payload, qos, correlationData).toCompletableFuture().join();
    } catch (java.util.concurrent.CompletionException e) {
      if (e.getCause() instanceof java.util.concurrent.TimeoutException timeout) {
        // Paho's own code for a client-side timeout, as the blocking publish reported it.
        throw new DeviceMqttException("No acknowledgement for the publish to '" + topic + "' in time", 32000, timeout);
      }
      throw e.getCause() instanceof RuntimeException cause ? cause : e;
    }
  }

  /**
   * As {@link #publish}, without holding a thread while the broker's acknowledgement is on its
   * way: a load generator with thousands of clients is otherwise bounded by its thread count
   * divided by the ack round trip, not by the system under test. Completes exceptionally with
   * {@link DeviceMqttException} (refused, lost connection) or a timeout after the options' timeout.
   */
  java.util.concurrent.CompletionStage<Void> publishAsync(String topic, byte[] payload, int qos,
      byte[] correlationData);

  boolean isConnected();

  void close();
}
