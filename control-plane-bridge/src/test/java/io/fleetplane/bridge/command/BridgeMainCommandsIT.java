package io.fleetplane.bridge.command;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fleetplane.bridge.command.domain.CommandReply;
import io.fleetplane.bridge.command.domain.CommandStatus;
import io.fleetplane.bridge.command.domain.DeviceCommand;
import io.fleetplane.bridge.support.ChildBridge;
import io.fleetplane.config.KafkaHeaders;
import io.fleetplane.config.ids.DeviceSessionId;
import io.fleetplane.config.ids.RaeSerial;
import io.fleetplane.testkit.Eventually;
import io.fleetplane.testkit.device.CommandBehaviour;
import io.fleetplane.testkit.device.DeviceSimulator;
import io.fleetplane.testkit.infra.EmbeddedKafka;
import io.fleetplane.testkit.infra.FreePorts;
import io.fleetplane.testkit.infra.MosquittoBroker;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Predicate;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

/**
 * The standalone bridge process ({@code BridgeMain}, {@code ./fleetplane bridge}) carries commands
 * too, not only device updates: started before its broker exists, it reports the command side as
 * down in {@code /health}, comes up by itself once the broker is there, and then a command record
 * on Kafka reaches a real device over MQTT and its reply lands on the replies topic.
 */
class BridgeMainCommandsIT {

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final RaeSerial RAE = new RaeSerial("RAE-MAIN");

  @Test
  void theBridgeProcessWaitsForTheBrokerThenCarriesACommandRoundTrip() throws Exception {
    EmbeddedKafka kafka = SharedKafka.get();
    String prefix = "it-main-" + UUID.randomUUID().toString().substring(0, 8);
    String commands = prefix + ".device-commands";
    String replies = prefix + ".device-command-replies";
    kafka.createTopics(2, commands, replies, prefix + ".device-events");
    kafka.createTopics(1, prefix + ".dead-letters");
    int mqttPort = FreePorts.next();
    Path logs = Files.createDirectories(Path.of("target", "bridge-processes"));
    Map<String, String> props = Map.ofEntries(
        Map.entry("fleetplane.bridge.mqtt.server-uri", "tcp://127.0.0.1:" + mqttPort),
        Map.entry("fleetplane.kafka.bootstrap-servers", kafka.bootstrapServers()),
        Map.entry("fleetplane.kafka.topics.device-events", prefix + ".device-events"),
        Map.entry("fleetplane.kafka.topics.dead-letters", prefix + ".dead-letters"),
        Map.entry("fleetplane.bridge.commands.topics.commands", commands),
        Map.entry("fleetplane.bridge.commands.topics.replies", replies),
        Map.entry("fleetplane.bridge.commands.consumer-group-id", prefix + "-commands"),
        Map.entry("fleetplane.bridge.restart.min-backoff", "200ms"),
        Map.entry("fleetplane.bridge.restart.max-backoff", "1s"),
        Map.entry("akka.loglevel", "WARNING"));

    try (ChildBridge child = ChildBridge.start(props, prefix, FreePorts.next(), logs.resolve(prefix + ".log"))) {
      JsonNode down = awaitHealth(child, h -> h.has("commands"), "a /health answer");
      assertEquals("degraded", down.get("status").asText(), down.toString());
      assertEquals("down", down.get("commands").get("status").asText(), down.toString());

      try (MosquittoBroker broker = MosquittoBroker.builder().port(mqttPort).start();
          KafkaRecords replyRecords = new KafkaRecords(kafka.bootstrapServers(), replies);
          KafkaProducer<String, byte[]> producer = new KafkaProducer<>(Map.of(
              ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers(),
              ProducerConfig.ACKS_CONFIG, "all"), new StringSerializer(), new ByteArraySerializer());
          DeviceSimulator device = DeviceSimulator.builder(broker.serverUri(), RAE, DeviceSessionId.random())
              .behaviour(CommandBehaviour.succeed(Map.of("rebooted", true))).connect()) {
        JsonNode up = awaitHealth(child, h -> "healthy".equals(h.path("status").asText()),
            "healthy once the broker is up");
        assertEquals("up", up.get("commands").get("status").asText(), up.toString());

        DeviceCommand command = CommandBridgeFixture.command(RAE, device.deviceSessionId(), "reboot",
            Map.of(), 15_000);
        producer.send(new ProducerRecord<>(commands, null, command.sessionKey(), command.toRecordJson(),
            List.of(new RecordHeader(KafkaHeaders.COMMAND_ID,
                command.commandId().value().getBytes(StandardCharsets.UTF_8))))).get(10, TimeUnit.SECONDS);

        CommandReply reply = CommandReply.parse(replyRecords.await(
            r -> command.commandId().value().equals(KafkaRecords.header(r, KafkaHeaders.COMMAND_ID)),
            Duration.ofSeconds(30), "reply to " + command.commandId() + "; see " + child.log()).value());
        assertEquals(CommandStatus.SUCCEEDED, reply.status());
        assertTrue(reply.result().get("rebooted").asBoolean(), reply.toString());
        assertEquals("reboot", device.receivedCommands().get(0).name());
      }
    }
  }

  private static JsonNode awaitHealth(ChildBridge child, Predicate<JsonNode> condition, String what) {
    AtomicReference<JsonNode> last = new AtomicReference<>();
    Eventually.await(Duration.ofSeconds(60), () -> {
      last.set(health(child));
      return last.get() != null && condition.test(last.get());
    }, () -> "bridge process /health " + what + "; last: " + last.get() + "; see " + child.log());
    return last.get();
  }

  private static JsonNode health(ChildBridge child) {
    HttpResponse<String> response = child.get("/health");
    if (response == null) {
      return null;
    }
    try {
      return JSON.readTree(response.body());
    } catch (Exception e) {
      return null;
    }
  }
}
