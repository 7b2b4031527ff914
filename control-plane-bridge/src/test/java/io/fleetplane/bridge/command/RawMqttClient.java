package io.fleetplane.bridge.command;

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

/** A plain MQTT 5 client that records everything it receives: an eavesdropper or the bridge's eyes. */
final class RawMqttClient implements AutoCloseable {

  record Received(String topic, String payload) {}

  private final MqttClient client;
  private final List<Received> received = new CopyOnWriteArrayList<>();

  RawMqttClient(String serverUri, String user, String password) throws MqttException {
    client = new MqttClient(serverUri, "it-raw-" + UUID.randomUUID(), new MemoryPersistence());
    client.setTimeToWait(10_000);
    client.setCallback(new MqttCallback() {
      @Override public void disconnected(MqttDisconnectResponse response) {}
      @Override public void mqttErrorOccurred(MqttException exception) {}
      @Override public void messageArrived(String topic, MqttMessage message) {
        received.add(new Received(topic, new String(message.getPayload(), StandardCharsets.UTF_8)));
      }
      @Override public void deliveryComplete(IMqttToken token) {}
      @Override public void connectComplete(boolean reconnect, String serverURI) {}
      @Override public void authPacketArrived(int reasonCode, MqttProperties properties) {}
    });
    MqttConnectionOptions options = new MqttConnectionOptions();
    options.setCleanStart(true);
    options.setUserName(user);
    options.setPassword(password.getBytes(StandardCharsets.UTF_8));
    client.connect(options);
  }

  void subscribe(String filter) throws MqttException {
    client.subscribe(filter, 1);
  }

  List<Received> received() {
    return List.copyOf(received);
  }

  @Override
  public void close() throws MqttException {
    try {
      client.disconnect(2_000);
    } finally {
      client.close(true);
    }
  }
}
