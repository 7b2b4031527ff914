package io.fleetplane.bridge.support;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.UUID;
import org.eclipse.paho.mqttv5.client.MqttClient;
import org.eclipse.paho.mqttv5.client.MqttClientException;
import org.eclipse.paho.mqttv5.client.MqttConnectionOptions;
import org.eclipse.paho.mqttv5.client.persist.MemoryPersistence;
import org.eclipse.paho.mqttv5.common.MqttException;
import org.eclipse.paho.mqttv5.common.MqttMessage;
import org.eclipse.paho.mqttv5.common.packet.MqttProperties;
import org.eclipse.paho.mqttv5.common.packet.UserProperty;

/**
 * A device-side MQTT 5 client for tests. Publishes synchronously: one message in flight at a
 * time, so publish order is exactly call order and the broker's receive-maximum is never hit.
 */
public final class DevicePublisher implements AutoCloseable {

  private final MqttClient client;

  private DevicePublisher(MqttClient client) {
    this.client = client;
  }

  public static DevicePublisher connect(String serverUri) {
    try {
      MqttClient client = new MqttClient(serverUri, "device-" + UUID.randomUUID(), new MemoryPersistence());
      client.setTimeToWait(20_000);
      MqttConnectionOptions options = new MqttConnectionOptions();
      options.setCleanStart(true);
      options.setConnectionTimeout(10);
      client.connect(options);
      return new DevicePublisher(client);
    } catch (MqttException e) {
      throw new IllegalStateException("test device could not connect to " + serverUri + ": " + e, e);
    }
  }

  public void publish(String topic, String payload) {
    publish(topic, payload.getBytes(StandardCharsets.UTF_8), null);
  }

  /** Publishes at QoS 1, with the MQTT 5 user property {@code traceparent} when given. */
  public void publish(String topic, byte[] payload, String traceparent) {
    MqttMessage message = new MqttMessage(payload);
    message.setQos(1);
    if (traceparent != null) {
      MqttProperties properties = new MqttProperties();
      properties.setUserProperties(List.of(new UserProperty("traceparent", traceparent)));
      message.setProperties(properties);
    }
    long deadline = System.nanoTime() + 20_000_000_000L;
    while (true) {
      try {
        client.publish(topic, message);
        return;
      } catch (MqttException e) {
        // Paho v5 1.2.5 counts a completed publish as in flight a moment too long (eclipse-paho
        // issue 993): nothing was sent, so trying again is safe and keeps the order.
        if (e.getReasonCode() != MqttClientException.REASON_CODE_MAX_INFLIGHT || System.nanoTime() > deadline) {
          throw new IllegalStateException("publish to " + topic + " failed: " + e, e);
        }
        Thread.onSpinWait();
      }
    }
  }

  @Override
  public void close() {
    try {
      if (client.isConnected()) {
        client.disconnect(2_000);
      }
      client.close(true);
    } catch (MqttException e) {
      // best effort in tests
    }
  }

  /**
   * Removes a bridge's persistent session from a broker that outlives the test (the shared
   * HiveMQ), so it does not keep queueing messages for a client that never returns.
   */
  public static void discardSession(String serverUri, String clientId) {
    try {
      MqttClient client = new MqttClient(serverUri, clientId, new MemoryPersistence());
      MqttConnectionOptions options = new MqttConnectionOptions();
      options.setCleanStart(true);
      options.setSessionExpiryInterval(0L);
      client.connect(options);
      client.disconnect(2_000);
      client.close(true);
    } catch (MqttException e) {
      // best effort in tests
    }
  }
}
