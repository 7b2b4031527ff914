package io.fleetplane.bridge.command;

import io.fleetplane.testkit.Eventually;
import static io.fleetplane.bridge.command.CommandBridgeFixture.WAIT;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fleetplane.bridge.command.domain.BridgeErrorCodes;
import io.fleetplane.bridge.command.domain.CommandReply;
import io.fleetplane.bridge.command.domain.CommandStatus;
import io.fleetplane.bridge.command.domain.DeviceCommand;
import io.fleetplane.bridge.command.domain.ReplyError;
import io.fleetplane.config.KafkaHeaders;
import io.fleetplane.config.ids.DeviceSessionId;
import io.fleetplane.config.ids.RaeSerial;
import io.fleetplane.config.metrics.Metrics;
import io.fleetplane.testkit.device.CommandBehaviour;
import io.fleetplane.testkit.device.DeviceSimulator;
import io.fleetplane.testkit.device.MqttProtocol;
import io.fleetplane.testkit.device.ReceivedCommand;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * What the command bridge must do on any MQTT 5 broker, run against each one the platform uses
 * (one subclass per broker): real broker, real in-process Kafka, real Paho devices.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class CommandBridgeContract {

  private static final RaeSerial RAE = new RaeSerial("RAE-1");
  /** Small, so that one test can show the bound without thousands of commands. */
  private static final int MAX_PENDING = 3;

  private CommandBridgeFixture fixture;

  /** The broker under test, started (or shared) for this class. */
  protected abstract String mqttUri();

  /** A short name for topics and logs. */
  protected abstract String brokerName();

  @BeforeAll
  void startBridge() throws Exception {
    fixture = CommandBridgeFixture.start(brokerName(), mqttUri(),
        Map.of("fleetplane.bridge.commands.max-pending", MAX_PENDING));
  }

  @AfterAll
  void stopBridge() {
    try {
      if (fixture != null) {
        fixture.close();
      }
    } finally {
      afterBridgeStopped();
    }
  }

  /** Stops what the subclass started for this class (the bridge needed the broker until now). */
  protected void afterBridgeStopped() {}

  private DeviceSimulator device(MqttProtocol protocol, CommandBehaviour behaviour) {
    return DeviceSimulator.builder(mqttUri(), RAE, DeviceSessionId.random())
        .protocol(protocol).behaviour(behaviour).connect();
  }

  @Test
  void anMqtt5DeviceAnswersByCorrelationDataAndTheReplyLandsOnKafka() throws Exception {
    try (DeviceSimulator device = device(MqttProtocol.MQTT_5, CommandBehaviour.echo())) {
      DeviceCommand command = CommandBridgeFixture.command(RAE, device.deviceSessionId(), "reboot",
          Map.of("delaySeconds", 5), 10_000);
      fixture.send(command);

      CommandReply reply = fixture.awaitReply(command, WAIT);
      assertEquals(CommandStatus.SUCCEEDED, reply.status());
      assertEquals(command.commandId(), reply.commandId());
      assertEquals("reboot", reply.name());
      assertEquals(CommandReply.Source.DEVICE, reply.source());
      assertEquals(5, reply.result().get("echo").get("delaySeconds").asInt(), "params reached the device");

      ReceivedCommand received = device.receivedCommands().get(0);
      assertEquals(command.commandTopic(), received.topic());
      assertEquals(command.replyTopic(), received.replyTo(), "MQTT 5 response topic");
      assertEquals(command.commandId().value(),
          new String(received.correlationData(), StandardCharsets.UTF_8), "MQTT 5 correlation data");
      assertTrue(received.deadline() >= command.ts() + command.timeoutMs() - 1, "deadline in the payload");
      assertTrue(!device.sentReplies().get(0).payload().contains("commandId"),
          "this device correlated by the property alone");
    }
  }

  @Test
  void anMqtt311DeviceAnswersThroughThePayloadsReplyToAndCommandId() throws Exception {
    try (DeviceSimulator device = device(MqttProtocol.MQTT_3_1_1,
        CommandBehaviour.succeed(Map.of("version", "1.2.3")))) {
      DeviceCommand command = CommandBridgeFixture.command(RAE, device.deviceSessionId(),
          "get-version", Map.of(), 10_000);
      fixture.send(command);

      CommandReply reply = fixture.awaitReply(command, WAIT);
      assertEquals(CommandStatus.SUCCEEDED, reply.status());
      assertEquals(command.commandId(), reply.commandId());
      assertEquals("1.2.3", reply.result().get("version").asText());
      ReceivedCommand received = device.receivedCommands().get(0);
      assertNull(received.correlationData(), "an MQTT 3.1.1 device sees no properties");
      assertEquals(command.replyTopic(), received.replyTo(), "taken from the payload");
    }
  }

  @Test
  void aDevicesFailureIsPassedOnWithItsError() throws Exception {
    try (DeviceSimulator device = device(MqttProtocol.MQTT_5,
        CommandBehaviour.fail("flash.checksum-mismatch", "image checksum does not match"))) {
      DeviceCommand command = CommandBridgeFixture.command(RAE, device.deviceSessionId(),
          "flash-firmware", Map.of("image", "v2.bin"), 10_000);
      fixture.send(command);

      CommandReply reply = fixture.awaitReply(command, WAIT);
      assertEquals(CommandStatus.FAILED, reply.status());
      assertEquals(new ReplyError("flash.checksum-mismatch", "image checksum does not match"),
          reply.error().orElseThrow());
    }
  }

  @Test
  void aSilentDeviceGetsTimedOutAndItsLateReplyIsCountedAndDropped() throws Exception {
    long timeoutMs = 1_500;
    long late = Metrics.count(CommandMetrics.LATE_REPLIES);
    try (DeviceSimulator device = device(MqttProtocol.MQTT_5,
        CommandBehaviour.succeed(Map.of("too", "late")).delayedBy(Duration.ofMillis(timeoutMs + 1_000)))) {
      DeviceCommand command = CommandBridgeFixture.command(RAE, device.deviceSessionId(), "reboot",
          Map.of(), timeoutMs);
      fixture.send(command);

      CommandReply reply = fixture.awaitReply(command, WAIT);
      assertEquals(CommandStatus.TIMED_OUT, reply.status());
      assertEquals(CommandReply.Source.BRIDGE, reply.source());
      assertEquals(BridgeErrorCodes.TIMED_OUT, reply.error().orElseThrow().code());
      assertTrue(reply.ts() >= command.ts() + timeoutMs,
          "timed out " + (reply.ts() - command.ts()) + " ms after issue, before its " + timeoutMs + " ms");
      assertTrue(device.sentReplies().isEmpty(), "the device had not answered by then");

      device.awaitReply(command.commandId().value(), WAIT);
      Eventually.await(WAIT, () -> Metrics.count(CommandMetrics.LATE_REPLIES) > late,
          () -> "the late reply is counted");
      assertEquals(List.of(CommandStatus.TIMED_OUT),
          fixture.repliesTo(command).stream().map(CommandReply::status).toList(),
          "the late reply is not forwarded: exactly one final reply per command");
    }
  }

  @Test
  void aMalformedCommandIsDeadLetteredWithItsReasonAndTheNextOneStillGoesThrough() throws Exception {
    long deadLettered = Metrics.count(CommandMetrics.DEAD_LETTERS, Map.of("reason", "payload.not-json"));
    try (DeviceSimulator device = device(MqttProtocol.MQTT_5, CommandBehaviour.succeed(Map.of("ok", true)))) {
      DeviceCommand valid = CommandBridgeFixture.command(RAE, device.deviceSessionId(), "reboot",
          Map.of(), 10_000);
      fixture.sendRaw(valid.sessionKey(), "{not json".getBytes(StandardCharsets.UTF_8), null);
      String badSession = new String(valid.toRecordJson(), StandardCharsets.UTF_8)
          .replace(device.deviceSessionId().value(), "not-a-session");
      fixture.sendRaw(valid.sessionKey(), badSession.getBytes(StandardCharsets.UTF_8), null);
      fixture.send(valid);

      assertEquals(CommandStatus.SUCCEEDED, fixture.awaitReply(valid, WAIT).status());
      ConsumerRecord<String, byte[]> notJson = fixture.deadLetters.await(
          r -> "payload.not-json".equals(KafkaRecords.header(r, KafkaHeaders.ERROR_CODE)),
          WAIT, "the not-JSON record");
      assertEquals("{not json", new String(notJson.value(), StandardCharsets.UTF_8), "kept as it came");
      assertEquals("command-bridge", KafkaRecords.header(notJson, KafkaHeaders.REJECTED_BY));
      assertEquals(fixture.settings.commandsTopic(), KafkaRecords.header(notJson, KafkaHeaders.SOURCE_TOPIC));
      assertNotNull(KafkaRecords.header(notJson, KafkaHeaders.ERROR_DETAIL));
      ConsumerRecord<String, byte[]> invalidId = fixture.deadLetters.await(
          r -> "device.session-id-invalid".equals(KafkaRecords.header(r, KafkaHeaders.ERROR_CODE)),
          WAIT, "the record with an invalid session id");
      assertEquals(valid.commandId().value(), KafkaRecords.header(invalidId, KafkaHeaders.COMMAND_ID));
      assertEquals(deadLettered + 1,
          Metrics.count(CommandMetrics.DEAD_LETTERS, Map.of("reason", "payload.not-json")));
      assertTrue(fixture.repliesTo(valid).size() == 1, "no reply for what was dead-lettered");
    }
  }

  @Test
  void beyondMaxPendingNewCommandsAreRejectedInsteadOfQueued() throws Exception {
    try (DeviceSimulator device = device(MqttProtocol.MQTT_5, CommandBehaviour.ignore())) {
      List<DeviceCommand> commands = new ArrayList<>();
      for (int i = 0; i <= MAX_PENDING; i++) {
        DeviceCommand command = CommandBridgeFixture.command(RAE, device.deviceSessionId(),
            "reboot", Map.of("n", i), 1_500);
        commands.add(command);
        fixture.send(command);
      }
      DeviceCommand overTheBound = commands.get(MAX_PENDING);
      CommandReply rejected = fixture.awaitReply(overTheBound, WAIT);
      assertEquals(CommandStatus.REJECTED, rejected.status());
      assertEquals(BridgeErrorCodes.TOO_MANY_PENDING, rejected.error().orElseThrow().code());
      for (DeviceCommand pending : commands.subList(0, MAX_PENDING)) {
        assertEquals(CommandStatus.TIMED_OUT, fixture.awaitReply(pending, WAIT).status());
      }
      assertEquals(MAX_PENDING, device.receivedCommands().size(), "the rejected one was never sent");
      Eventually.await(WAIT, () -> fixture.bridge.health().pending() == 0, () -> "nothing pending");
      assertTrue(fixture.bridge.health().healthy(), fixture.bridge.health().detail());
    }
  }
}
