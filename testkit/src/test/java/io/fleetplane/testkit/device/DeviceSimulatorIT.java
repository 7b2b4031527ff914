package io.fleetplane.testkit.device;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fleetplane.config.ids.DeviceSessionId;
import io.fleetplane.config.ids.RaeSerial;
import io.fleetplane.testkit.infra.MosquittoBroker;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
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
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The device side of the command protocol on a real Mosquitto, driven by a plain MQTT 5 "cloud"
 * client: what the simulator receives, and what it answers, where, with which correlation.
 */
class DeviceSimulatorIT {

  private static final Duration WAIT = Duration.ofSeconds(10);
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final RaeSerial RAE = new RaeSerial("RAE-7");

  private static MosquittoBroker broker;
  private static MqttClient cloud;
  private static final List<MqttMessage> cloudReceived = new CopyOnWriteArrayList<>();
  private static final List<String> cloudTopics = new CopyOnWriteArrayList<>();

  @BeforeAll
  static void start() throws MqttException {
    broker = MosquittoBroker.start();
    cloud = new MqttClient(broker.serverUri(), "cloud-" + UUID.randomUUID(), new MemoryPersistence());
    cloud.setCallback(new MqttCallback() {
      @Override public void disconnected(MqttDisconnectResponse response) {}
      @Override public void mqttErrorOccurred(MqttException exception) {}
      @Override public void messageArrived(String topic, MqttMessage message) {
        cloudTopics.add(topic);
        cloudReceived.add(message);
      }
      @Override public void deliveryComplete(IMqttToken token) {}
      @Override public void connectComplete(boolean reconnect, String serverURI) {}
      @Override public void authPacketArrived(int reasonCode, MqttProperties properties) {}
    });
    cloud.connect(new MqttConnectionOptions());
    cloud.subscribe("fleet/rae/+/device/+/+", 1);
  }

  @AfterAll
  static void stop() throws MqttException {
    try {
      cloud.disconnect();
      cloud.close();
    } finally {
      broker.close();
    }
  }

  private static void sendCommand(DeviceSimulator device, String commandId, boolean mqtt5) throws MqttException {
    String replyTo = device.sessionKey() + "/command-reply";
    String payload = "{\"type\":\"command\",\"version\":1,\"commandId\":\"" + commandId
        + "\",\"name\":\"reboot\",\"params\":{\"n\":1},\"timeoutMs\":5000,\"deadline\":"
        + (System.currentTimeMillis() + 5000) + ",\"replyTo\":\"" + replyTo + "\",\"ts\":1}";
    MqttMessage message = new MqttMessage(payload.getBytes(StandardCharsets.UTF_8));
    message.setQos(1);
    if (mqtt5) {
      MqttProperties properties = new MqttProperties();
      properties.setResponseTopic(replyTo);
      properties.setCorrelationData(commandId.getBytes(StandardCharsets.UTF_8));
      message.setProperties(properties);
    }
    cloud.publish(device.commandTopic(), message);
  }

  private static MqttMessage awaitCloudMessage(String topic) {
    io.fleetplane.testkit.Eventually.await(WAIT, () -> cloudTopics.contains(topic),
        () -> "a message on " + topic + "; got " + cloudTopics);
    return cloudReceived.get(cloudTopics.indexOf(topic));
  }

  @Test
  void mqtt5DeviceEchoesTheCorrelationDataOnTheResponseTopic() throws Exception {
    try (DeviceSimulator device = DeviceSimulator.builder(broker.serverUri(), RAE, DeviceSessionId.random())
        .behaviour(CommandBehaviour.echo()).connect()) {
      sendCommand(device, "cmd-5", true);
      SentReply sent = device.awaitReply("cmd-5", WAIT);
      MqttMessage reply = awaitCloudMessage(device.sessionKey() + "/command-reply");
      assertArrayEquals("cmd-5".getBytes(StandardCharsets.UTF_8), reply.getProperties().getCorrelationData());
      JsonNode json = JSON.readTree(reply.getPayload());
      assertEquals("command-reply", json.get("type").asText());
      assertEquals(1, json.get("version").asInt());
      assertEquals("succeeded", json.get("status").asText());
      assertEquals(1, json.get("result").get("echo").get("n").asInt());
      assertFalse(json.has("commandId"), "MQTT 5: correlation by property only");
      assertEquals("succeeded", sent.status());
      assertEquals("reboot", device.receivedCommands().get(0).name());
    }
  }

  @Test
  void mqtt311DeviceAnswersToThePayloadsReplyToWithTheCommandIdInside() throws Exception {
    try (DeviceSimulator device = DeviceSimulator.builder(broker.serverUri(), RAE, DeviceSessionId.random())
        .protocol(MqttProtocol.MQTT_3_1_1)
        .behaviour(CommandBehaviour.fail("disk.full", "no space")).connect()) {
      sendCommand(device, "cmd-3", false);
      device.awaitReply("cmd-3", WAIT);
      JsonNode json = JSON.readTree(awaitCloudMessage(device.sessionKey() + "/command-reply").getPayload());
      assertEquals("cmd-3", json.get("commandId").asText());
      assertEquals("failed", json.get("status").asText());
      assertEquals("disk.full", json.get("error").get("code").asText());
      assertNull(device.receivedCommands().get(0).correlationData());
    }
  }

  @Test
  void ignoringAndDelayingAreBehavioursToo() throws Exception {
    try (DeviceSimulator device = DeviceSimulator.builder(broker.serverUri(), RAE, DeviceSessionId.random())
        .behaviour(CommandBehaviour.ignore()).connect()) {
      sendCommand(device, "ignored", true);
      device.awaitCommand(c -> c.commandId().equals("ignored"), WAIT);
      device.behaviour(CommandBehaviour.succeed(Map.of()).delayedBy(Duration.ofMillis(300)));
      sendCommand(device, "delayed", true);
      ReceivedCommand received = device.awaitCommand(c -> c.commandId().equals("delayed"), WAIT);
      SentReply sent = device.awaitReply("delayed", WAIT);
      assertTrue(sent.sentAt() - received.receivedAt() >= 300, "replied after the delay");
      assertEquals(List.of("delayed"), device.sentReplies().stream().map(SentReply::commandId).toList());
    }
  }

  @Test
  void publishesUpdatesOnItsSessionTopic() throws Exception {
    try (DeviceSimulator device = DeviceSimulator.builder(broker.serverUri(), RAE, DeviceSessionId.random()).connect()) {
      device.publishUpdate("{\"ts\":1,\"attributes\":{\"esn\":\"X\"}}");
      MqttMessage update = awaitCloudMessage(device.sessionKey() + "/update");
      assertEquals("{\"ts\":1,\"attributes\":{\"esn\":\"X\"}}", new String(update.getPayload(), StandardCharsets.UTF_8));
    }
  }

  @Test
  void anUnreachableBrokerIsAClearError() {
    DeviceMqttException e = assertThrows(DeviceMqttException.class, () -> DeviceSimulator
        .builder("tcp://127.0.0.1:1", RAE, DeviceSessionId.random()).timeout(Duration.ofSeconds(2)).connect());
    assertTrue(e.getMessage().contains("could not connect to tcp://127.0.0.1:1"), e.getMessage());
    assertFalse(e.refusedByBroker());
  }

  @Test
  void devicesOnSharedThreadsConnectPublishAnswerAndHandTheirThreadsOn() throws Exception {
    try (MqttClientThreads threads = new MqttClientThreads("shared-test")) {
      for (MqttProtocol protocol : MqttProtocol.values()) {
        try (DeviceSimulator device = DeviceSimulator.builder(broker.serverUri(), RAE, DeviceSessionId.random())
            .protocol(protocol).threads(threads).behaviour(CommandBehaviour.echo()).connect()) {
          device.publishUpdate("{\"ts\":2,\"attributes\":{\"protocol\":\"" + protocol + "\"}}");
          MqttMessage update = awaitCloudMessage(device.sessionKey() + "/update");
          assertTrue(new String(update.getPayload(), StandardCharsets.UTF_8).contains(protocol.toString()));
          sendCommand(device, "shared-" + protocol, protocol == MqttProtocol.MQTT_5);
          assertEquals("succeeded", device.awaitReply("shared-" + protocol, WAIT).status());
        }
      }
      int afterTwoDevices = threads.poolSize();
      assertTrue(afterTwoDevices > 0, "Paho ran its loops on the shared pool");
      // Ten more devices one after the other: each takes the threads the last one left.
      for (int i = 0; i < 10; i++) {
        try (DeviceSimulator device = DeviceSimulator.builder(broker.serverUri(), RAE, DeviceSessionId.random())
            .protocol(MqttProtocol.MQTT_3_1_1).threads(threads).connect()) {
          device.publishUpdate("{\"ts\":3}");
        }
      }
      assertTrue(threads.poolSize() <= afterTwoDevices + 4,
          "threads are reused, not created per device: " + afterTwoDevices + " -> " + threads.poolSize());
    }
  }
}
