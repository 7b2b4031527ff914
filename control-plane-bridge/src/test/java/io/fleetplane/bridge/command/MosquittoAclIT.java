package io.fleetplane.bridge.command;

import io.fleetplane.testkit.Eventually;
import static io.fleetplane.bridge.command.CommandBridgeFixture.WAIT;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fleetplane.bridge.command.domain.BridgeErrorCodes;
import io.fleetplane.bridge.command.domain.CommandReply;
import io.fleetplane.bridge.command.domain.CommandStatus;
import io.fleetplane.bridge.command.domain.DeviceCommand;
import io.fleetplane.config.ids.DeviceSessionId;
import io.fleetplane.config.ids.RaeSerial;
import io.fleetplane.config.metrics.Metrics;
import io.fleetplane.testkit.device.CommandBehaviour;
import io.fleetplane.testkit.device.DeviceMqttException;
import io.fleetplane.testkit.device.DeviceSimulator;
import io.fleetplane.testkit.device.MqttProtocol;
import io.fleetplane.testkit.infra.MosquittoBroker;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The shipped {@code config/mosquitto/acl} on a real Mosquitto 2.0, with passwords made by
 * {@code mosquitto_passwd}: two RAEs cannot touch each other's topics, and the bridge user can
 * do its job.
 *
 * <p>Mosquitto accepts any SUBSCRIBE (granted SUBACK) and filters each message against the ACL,
 * and it acknowledges a denied MQTT 3.1.1 publish as if delivered; so these tests assert what
 * is delivered, never what the broker answered. "Never arrived" is proven by ordering: Mosquitto
 * handles messages one at a time and queues each to its subscribers at once, so when a marker
 * sent afterwards has arrived, the earlier message would have arrived before it.
 */
class MosquittoAclIT {

  private static final String BRIDGE_USER = "fleetplane-bridge";
  private static final String BRIDGE_PASSWORD = "bridge-secret";
  private static final RaeSerial RAE_A = new RaeSerial("RAE-A");
  private static final RaeSerial RAE_B = new RaeSerial("RAE-B");
  private static final Map<String, String> PASSWORDS = Map.of(
      BRIDGE_USER, BRIDGE_PASSWORD, RAE_A.value(), "a-secret", RAE_B.value(), "b-secret");

  @TempDir
  static Path tmp;

  private static MosquittoBroker broker;
  private static CommandBridgeFixture fixture;

  @BeforeAll
  static void start() throws Exception {
    QuietLogs.apply();
    Path passwords = tmp.resolve("passwords");
    boolean first = true;
    for (var user : PASSWORDS.entrySet()) {
      List<String> command = new ArrayList<>(List.of("mosquitto_passwd", "-b"));
      if (first) {
        command.add(1, "-c");
      }
      command.addAll(List.of(passwords.toString(), user.getKey(), user.getValue()));
      Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
      String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertEquals(0, process.waitFor(), "mosquitto_passwd failed: " + output);
      first = false;
    }
    broker = MosquittoBroker.builder()
        .allowAnonymous(false)
        .passwordFile(passwords)
        .aclFile(shippedAcl())
        .start();
    fixture = CommandBridgeFixture.start("acl", broker.serverUri(), Map.of(
        "fleetplane.bridge.mqtt.username", BRIDGE_USER,
        "fleetplane.bridge.mqtt.password", BRIDGE_PASSWORD));
  }

  @AfterAll
  static void stop() {
    try {
      if (fixture != null) {
        fixture.close();
      }
    } finally {
      if (broker != null) {
        broker.close();
      }
    }
  }

  /** The ACL as shipped: config/mosquitto/acl at the repository root. */
  private static Path shippedAcl() {
    for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
      Path acl = dir.resolve("config/mosquitto/acl");
      if (Files.isRegularFile(acl)) {
        return acl;
      }
    }
    throw new IllegalStateException("config/mosquitto/acl not found above " + Path.of("").toAbsolutePath());
  }

  private static DeviceSimulator device(RaeSerial rae, CommandBehaviour behaviour) {
    return DeviceSimulator.builder(broker.serverUri(), rae, DeviceSessionId.random())
        .credentials(rae.value(), PASSWORDS.get(rae.value()))
        .behaviour(behaviour)
        .connect();
  }

  private static String reply(String status, String commandId) {
    return "{\"type\":\"command-reply\",\"version\":1,\"commandId\":\"" + commandId
        + "\",\"status\":\"" + status + "\",\"result\":{\"forged\":true}}";
  }

  @Test
  void nobodyConnectsWithoutTheRightPassword() {
    assertThrows(DeviceMqttException.class, () -> DeviceSimulator
        .builder(broker.serverUri(), RAE_A, DeviceSessionId.random()).connect().close());
    assertThrows(DeviceMqttException.class, () -> DeviceSimulator
        .builder(broker.serverUri(), RAE_A, DeviceSessionId.random())
        .credentials(RAE_A.value(), "b-secret").connect().close());
  }

  @Test
  void eachRaesCommandsRoundTripThroughTheBridgeUser() throws Exception {
    try (DeviceSimulator a = device(RAE_A, CommandBehaviour.succeed(Map.of("rae", "A")));
         DeviceSimulator b = DeviceSimulator.builder(broker.serverUri(), RAE_B, DeviceSessionId.random())
             .credentials(RAE_B.value(), PASSWORDS.get(RAE_B.value()))
             .protocol(MqttProtocol.MQTT_3_1_1)
             .behaviour(CommandBehaviour.succeed(Map.of("rae", "B")))
             .connect()) {
      DeviceCommand toA = CommandBridgeFixture.command(RAE_A, a.deviceSessionId(), "ping", Map.of(), 10_000);
      DeviceCommand toB = CommandBridgeFixture.command(RAE_B, b.deviceSessionId(), "ping", Map.of(), 10_000);
      fixture.send(toA);
      fixture.send(toB);
      CommandReply fromA = fixture.awaitReply(toA, WAIT);
      CommandReply fromB = fixture.awaitReply(toB, WAIT);
      assertEquals(CommandStatus.SUCCEEDED, fromA.status());
      assertEquals("A", fromA.result().get("rae").asText());
      assertEquals(CommandStatus.SUCCEEDED, fromB.status(), "an MQTT 3.1.1 device under the same ACL");
      assertEquals("B", fromB.result().get("rae").asText());
    }
  }

  @Test
  void theBridgeUserReadsDeviceUpdatesButRaeACannotPublishAsRaeB() throws Exception {
    try (RawMqttClient bridgeEyes = new RawMqttClient(broker.serverUri(), BRIDGE_USER, BRIDGE_PASSWORD);
         DeviceSimulator a = device(RAE_A, CommandBehaviour.ignore())) {
      bridgeEyes.subscribe("fleet/rae/+/device/+/+");
      String forgedTopic = "fleet/rae/RAE-B/device/" + DeviceSessionId.random() + "/update";
      publishDenied(a, forgedTopic, "{\"ts\":1,\"forged\":true}", null);
      a.publishUpdate("{\"ts\":2,\"own\":true}");

      Eventually.await(WAIT, () -> bridgeEyes.received().stream().anyMatch(m -> m.payload().contains("own")),
          () -> "RAE-A's own update reaches the bridge user; got " + bridgeEyes.received());
      assertTrue(bridgeEyes.received().stream().noneMatch(m -> m.topic().equals(forgedTopic)),
          "RAE-A's update forged as RAE-B must never arrive: " + bridgeEyes.received());
    }
  }

  @Test
  void raeACannotAnswerRaeBsCommand() throws Exception {
    long wrongSession = Metrics.count(CommandMetrics.DROPPED_REPLIES, Map.of("reason", "wrong-session"));
    try (DeviceSimulator a = device(RAE_A, CommandBehaviour.ignore());
         DeviceSimulator b = device(RAE_B, CommandBehaviour.ignore())) {
      DeviceCommand toB = CommandBridgeFixture.command(RAE_B, b.deviceSessionId(), "unlock", Map.of(), 2_000);
      fixture.send(toB);
      String id = toB.commandId().value();
      b.awaitCommand(c -> c.commandId().equals(id), WAIT);

      // Into B's reply topic: the ACL drops it. Into A's own reply topic: the bridge drops it,
      // because the command is not A's session's.
      publishDenied(a, toB.replyTopic(), reply("succeeded", id), id.getBytes(StandardCharsets.UTF_8));
      a.publishRaw(a.sessionKey() + "/command-reply", reply("succeeded", id),
          id.getBytes(StandardCharsets.UTF_8));

      Eventually.await(WAIT, () -> Metrics.count(CommandMetrics.DROPPED_REPLIES,
              Map.of("reason", "wrong-session")) > wrongSession,
          () -> "the bridge drops a reply from the wrong session");
      CommandReply reply = fixture.awaitReply(toB, WAIT);
      assertEquals(CommandStatus.TIMED_OUT, reply.status(), "no forged reply settled B's command");
      assertEquals(1, fixture.repliesTo(toB).size());
    }
  }

  @Test
  void raeACannotReceiveRaeBsMessagesEvenWithWildcards() throws Exception {
    try (RawMqttClient spyA = new RawMqttClient(broker.serverUri(), RAE_A.value(), PASSWORDS.get(RAE_A.value()));
         DeviceSimulator a = device(RAE_A, CommandBehaviour.succeed(Map.of()));
         DeviceSimulator b = device(RAE_B, CommandBehaviour.succeed(Map.of()))) {
      spyA.subscribe("fleet/#");
      spyA.subscribe("fleet/rae/RAE-B/device/+/command");

      DeviceCommand toB = CommandBridgeFixture.command(RAE_B, b.deviceSessionId(), "secret", Map.of(), 10_000);
      fixture.send(toB);
      assertEquals(CommandStatus.SUCCEEDED, fixture.awaitReply(toB, WAIT).status(),
          "B's command and reply went through the broker");
      b.publishUpdate("{\"ts\":1,\"secret\":\"of B\"}");

      DeviceCommand toA = CommandBridgeFixture.command(RAE_A, a.deviceSessionId(), "marker", Map.of(), 10_000);
      fixture.send(toA);
      Eventually.await(WAIT, () -> spyA.received().stream().anyMatch(m -> m.payload().contains(toA.commandId().value())),
          () -> "RAE-A still receives its own commands; got " + spyA.received());
      assertTrue(spyA.received().stream().allMatch(m -> m.topic().startsWith("fleet/rae/RAE-A/")),
          "RAE-A must see nothing of RAE-B: " + spyA.received());
    }
  }

  @Test
  void aBridgeUserWithoutWriteAccessGetsItsCommandsRejectedSayingWhy() throws Exception {
    // A bridge misconfigured with a device's credentials: the broker refuses its publishes.
    try (CommandBridgeFixture misconfigured = CommandBridgeFixture.start("acl-misconfigured",
            broker.serverUri(), Map.of(
                "fleetplane.bridge.mqtt.username", RAE_A.value(),
                "fleetplane.bridge.mqtt.password", PASSWORDS.get(RAE_A.value())));
         DeviceSimulator b = device(RAE_B, CommandBehaviour.succeed(Map.of()))) {
      DeviceCommand toB = CommandBridgeFixture.command(RAE_B, b.deviceSessionId(), "ping", Map.of(), 10_000);
      misconfigured.send(toB);
      CommandReply reply = misconfigured.awaitReply(toB, WAIT);
      assertEquals(CommandStatus.REJECTED, reply.status());
      assertEquals(BridgeErrorCodes.BROKER_REFUSED, reply.error().orElseThrow().code());
      assertTrue(reply.error().orElseThrow().message().contains("0x87"), reply.error().toString());
      assertTrue(b.receivedCommands().isEmpty());
    }
  }

  /**
   * Publishes something the ACL denies, over MQTT 5: Mosquitto 2.0 answers PUBACK 0x87 "not
   * authorized" (the tests prove non-delivery separately, since an MQTT 3.1.1 client is told
   * nothing).
   */
  private static void publishDenied(DeviceSimulator device, String topic, String payload, byte[] correlation) {
    DeviceMqttException refused = assertThrows(DeviceMqttException.class,
        () -> device.publishRaw(topic, payload, correlation));
    assertEquals(0x87, refused.reasonCode(), refused.getMessage());
  }
}
