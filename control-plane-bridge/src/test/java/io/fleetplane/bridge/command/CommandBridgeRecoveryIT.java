package io.fleetplane.bridge.command;

import io.fleetplane.testkit.Eventually;
import io.fleetplane.config.KafkaHeaders;
import static io.fleetplane.bridge.command.CommandBridgeFixture.WAIT;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fleetplane.bridge.command.domain.BridgeErrorCodes;
import io.fleetplane.bridge.command.domain.CommandReply;
import io.fleetplane.bridge.command.domain.CommandStatus;
import io.fleetplane.bridge.command.domain.DeviceCommand;
import io.fleetplane.config.ids.DeviceSessionId;
import io.fleetplane.config.ids.RaeSerial;
import io.fleetplane.config.metrics.Metrics;
import io.fleetplane.testkit.device.CommandBehaviour;
import io.fleetplane.testkit.device.DeviceSimulator;
import io.fleetplane.testkit.infra.MosquittoBroker;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * What the command bridge does when things go away: a broker outage delays commands without
 * losing them (commands wait for the link up to publish-timeout, then the stream restarts with
 * backoff and Kafka redelivers; Paho reconnects), and a graceful stop answers what is still
 * pending instead of leaving issuers waiting.
 */
class CommandBridgeRecoveryIT {

  private static final RaeSerial RAE = new RaeSerial("RAE-9");
  /** Paho's reconnect and the stream's restart both back off, on top of the broker restart. */
  private static final Duration RECOVERY_WAIT = Duration.ofSeconds(30);

  @Test
  void aBrokerOutageDelaysCommandsButLosesNone() throws Exception {
    QuietLogs.apply();
    MosquittoBroker broker = MosquittoBroker.start();
    int port = broker.port();
    DeviceSessionId session = DeviceSessionId.random();
    long streamFailures = Metrics.count(CommandMetrics.STREAM_FAILURES);
    // A short publish-timeout, so that the outage outlasts it and the stream really restarts.
    try (CommandBridgeFixture fixture = CommandBridgeFixture.start("recovery", broker.serverUri(),
        Map.of("fleetplane.bridge.commands.mqtt.publish-timeout", "500ms"))) {
      try (DeviceSimulator device = DeviceSimulator.builder(broker.serverUri(), RAE, session).connect()) {
        DeviceCommand warmUp = CommandBridgeFixture.command(RAE, session, "ping", Map.of(), 10_000);
        fixture.send(warmUp);
        assertEquals(CommandStatus.SUCCEEDED, fixture.awaitReply(warmUp, WAIT).status());
      }

      broker.close();
      Eventually.await(WAIT, () -> !fixture.bridge.health().healthy(), () -> "unhealthy without a broker");
      assertTrue(fixture.bridge.health().detail().contains("not connected"), fixture.bridge.health().detail());
      DeviceCommand duringOutage = CommandBridgeFixture.command(RAE, session, "reboot", Map.of(), 30_000);
      fixture.send(duringOutage);
      Eventually.await(WAIT, () -> Metrics.count(CommandMetrics.STREAM_FAILURES) > streamFailures,
          () -> "the publish fails after publish-timeout and the stream restarts");

      broker = MosquittoBroker.builder().port(port).start();
      try (DeviceSimulator device = DeviceSimulator.builder(broker.serverUri(), RAE, session)
          .behaviour(CommandBehaviour.succeed(Map.of("after", "outage"))).connect()) {
        CommandReply reply = fixture.awaitReply(duringOutage, RECOVERY_WAIT);
        assertEquals(CommandStatus.SUCCEEDED, reply.status());
        assertEquals(1, device.receivedCommands().size(), "delivered once");
        Eventually.await(WAIT, () -> fixture.bridge.health().healthy(), () -> "healthy again: "
            + fixture.bridge.health().detail());
      }
    } finally {
      broker.close();
    }
  }

  @Test
  void aGracefulStopAnswersPendingCommandsAsBridgeStopped() throws Exception {
    QuietLogs.apply();
    try (MosquittoBroker broker = MosquittoBroker.start()) {
      CommandBridgeFixture fixture = CommandBridgeFixture.start("stopping", broker.serverUri(), Map.of());
      try (KafkaRecords replies = new KafkaRecords(fixture.kafka.bootstrapServers(), fixture.settings.repliesTopic());
           DeviceSimulator device = DeviceSimulator.builder(broker.serverUri(), RAE, DeviceSessionId.random())
               .behaviour(CommandBehaviour.ignore()).connect()) {
        DeviceCommand command = CommandBridgeFixture.command(RAE, device.deviceSessionId(), "reboot",
            Map.of(), 60_000);
        try {
          fixture.send(command);
          device.awaitCommand(c -> c.commandId().equals(command.commandId().value()), WAIT);
        } finally {
          fixture.close();
        }
        CommandReply reply = CommandReply.parse(replies.await(
            r -> command.commandId().value().equals(KafkaRecords.header(r, KafkaHeaders.COMMAND_ID)),
            WAIT, "the reply produced while stopping").value());
        assertEquals(CommandStatus.TIMED_OUT, reply.status());
        assertEquals(BridgeErrorCodes.BRIDGE_STOPPED, reply.error().orElseThrow().code());
      }
    }
  }

}
