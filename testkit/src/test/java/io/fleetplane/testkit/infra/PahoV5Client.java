package io.fleetplane.testkit.infra;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;

import org.eclipse.paho.mqttv5.client.IMqttToken;
import org.eclipse.paho.mqttv5.client.MqttCallback;
import org.eclipse.paho.mqttv5.client.MqttClient;
import org.eclipse.paho.mqttv5.client.MqttConnectionOptions;
import org.eclipse.paho.mqttv5.client.MqttDisconnectResponse;
import org.eclipse.paho.mqttv5.client.persist.MemoryPersistence;
import org.eclipse.paho.mqttv5.common.MqttException;
import org.eclipse.paho.mqttv5.common.MqttMessage;
import org.eclipse.paho.mqttv5.common.packet.MqttProperties;

/** A Paho MQTT 5 client for tests that records every message it receives. */
final class PahoV5Client implements AutoCloseable {

  record Received(String topic, String payload, int qos, MqttProperties properties) {}

  final MqttClient client;
  final List<Received> received = new CopyOnWriteArrayList<>();
  private IMqttToken connectToken;

  private PahoV5Client(String serverUri) throws MqttException {
    client = new MqttClient(serverUri, "it-" + UUID.randomUUID(), new MemoryPersistence());
    client.setTimeToWait(10_000);
    client.setCallback(new MqttCallback() {
      @Override public void disconnected(MqttDisconnectResponse response) {}
      @Override public void mqttErrorOccurred(MqttException exception) {}
      @Override public void messageArrived(String topic, MqttMessage message) {
        received.add(new Received(topic, new String(message.getPayload(), StandardCharsets.UTF_8),
            message.getQos(), message.getProperties()));
      }
      @Override public void deliveryComplete(IMqttToken token) {}
      @Override public void connectComplete(boolean reconnect, String serverURI) {}
      @Override public void authPacketArrived(int reasonCode, MqttProperties properties) {}
    });
  }

  static PahoV5Client connect(String serverUri) throws MqttException {
    return connect(serverUri, null, null);
  }

  static PahoV5Client connect(String serverUri, String user, String password) throws MqttException {
    PahoV5Client result = new PahoV5Client(serverUri);
    MqttConnectionOptions options = new MqttConnectionOptions(); // MQTT 5 is Paho v5's default
    options.setCleanStart(true);
    options.setConnectionTimeout(10);
    if (user != null) {
      options.setUserName(user);
      options.setPassword(password.getBytes(StandardCharsets.UTF_8));
    }
    try {
      result.connectToken = result.client.connectWithResult(options);
    } catch (MqttException e) {
      result.client.close(true);
      throw e;
    }
    return result;
  }

  /** The CONNACK's MQTT 5 properties (a 3.1.1 broker has none to send). */
  MqttProperties connackProperties() {
    return connectToken.getResponseProperties();
  }

  /** Subscribes and returns the reason codes of the SUBACK (granted QoS, or >= 0x80 when refused). */
  int[] subscribe(String filter, int qos) throws MqttException {
    return client.subscribe(filter, qos).getReasonCodes();
  }

  void publish(String topic, String payload, int qos) throws MqttException {
    publish(topic, payload, qos, false, null);
  }

  void publish(String topic, String payload, int qos, boolean retained, MqttProperties properties)
      throws MqttException {
    MqttMessage message = new MqttMessage(payload.getBytes(StandardCharsets.UTF_8));
    message.setQos(qos);
    message.setRetained(retained);
    if (properties != null) {
      message.setProperties(properties);
    }
    client.publish(topic, message);
  }

  List<String> payloads() {
    return received.stream().map(Received::payload).toList();
  }

  @Override
  public void close() throws MqttException {
    try {
      if (client.isConnected()) {
        client.disconnect(2_000);
      }
    } finally {
      client.close(true);
    }
  }
}
