package io.fleetplane.bridge;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.actor.typed.ActorSystem;
import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.fleetplane.bridge.support.BridgeFixture;
import io.fleetplane.bridge.support.Deliveries;
import io.fleetplane.bridge.support.DevicePublisher;
import io.fleetplane.bridge.support.KafkaTopicReader;
import io.fleetplane.bridge.support.KafkaTopicReader.Received;
import io.fleetplane.bridge.support.Poll;
import io.fleetplane.bridge.support.TestKafka;
import io.fleetplane.config.KafkaHeaders;
import io.fleetplane.config.LogIds;
import io.fleetplane.config.ids.DeviceSessionId;
import io.fleetplane.config.ids.DeviceTopic;
import io.fleetplane.config.ids.RaeSerial;
import io.fleetplane.testkit.infra.EmbeddedKafka;
import io.fleetplane.testkit.infra.EmbeddedMqttBroker;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/**
 * Done-when 4: malformed, oversized and wrong-topic messages land in the dead-letter topic with
 * the reason in a header, counted per reason and logged rate-limited, while a well-behaved
 * device's messages keep flowing next to a device flooding garbage. The command path's sibling
 * topics never reach this path at all. Real HiveMQ CE, real Kafka.
 */
class DeadLetterIT {

  private static final int FLOOD = 500;
  private static final int GOOD = 200;

  @Test
  void badInputIsDeadLetteredWithItsReasonAndGoodInputKeepsFlowing() throws Exception {
    EmbeddedKafka kafka = TestKafka.shared();
    EmbeddedMqttBroker broker = EmbeddedMqttBroker.shared();
    TestKafka.Topics topics = TestKafka.Topics.unique("dead");
    kafka.createTopics(2, topics.deviceEvents(), topics.deadLetters());
    String instance = "dead-letter-it-" + UUID.randomUUID().toString().substring(0, 6);
    ListAppender<ILoggingEvent> logged = new ListAppender<>();
    Logger forwarderLog = (Logger) LoggerFactory.getLogger(KafkaForwarder.class);
    logged.start();
    forwarderLog.addAppender(logged);
    ActorSystem<Void> system = null;
    MqttKafkaBridge bridge = null;
    try (KafkaTopicReader events = KafkaTopicReader.start(kafka.bootstrapServers(), topics.deviceEvents());
         KafkaTopicReader dead = KafkaTopicReader.start(kafka.bootstrapServers(), topics.deadLetters())) {
      Map<String, Object> config = BridgeFixture.config(broker.serverUri(), kafka.bootstrapServers(), topics, instance);
      system = BridgeFixture.system("dead-letter-it", config);
      bridge = BridgeFixture.launch(system, config);
      long inBefore = BridgeMetrics.total(BridgeMetrics.MESSAGES_IN, BridgeMetrics.INBOUND);
      Map<String, Long> deadBefore = deadLetterTotals();

      DeviceTopic good = new DeviceTopic(new RaeSerial("RAE-G"), DeviceSessionId.random(), DeviceTopic.Channel.UPDATE);
      DeviceTopic bad = new DeviceTopic(new RaeSerial("RAE-B"), DeviceSessionId.random(), DeviceTopic.Channel.UPDATE);
      String session = DeviceSessionId.random().value();

      // A device flooding garbage and a well-behaved one, at the same time.
      CompletableFuture<Void> flood = CompletableFuture.runAsync(() -> {
        try (DevicePublisher device = DevicePublisher.connect(broker.serverUri())) {
          for (int i = 0; i < FLOOD; i++) {
            device.publish(bad.topic(), "not json {" + i);
          }
        }
      });
      long goodStart = System.nanoTime();
      try (DevicePublisher device = DevicePublisher.connect(broker.serverUri())) {
        for (int i = 0; i < GOOD; i++) {
          device.publish(good.topic(), BridgeFixture.payload(i, 100));
        }
        device.publish(good.sessionKey() + "/checkpoint", "{\"version\":1,\"ts\":2,\"attributes\":{\"a\":1}}");
        device.publish(good.sessionKey() + "/connection", "{\"version\":1,\"ts\":3,\"connected\":false}");
      }
      flood.get(60, TimeUnit.SECONDS);

      Map<String, String> expectedReason = new HashMap<>();
      try (DevicePublisher device = DevicePublisher.connect(broker.serverUri())) {
        String valid = "fleet/rae/RAE-1/device/" + session;
        // The command path's topics: not subscribed, so neither forwarded nor dead-lettered.
        device.publish(valid + "/command", "{\"version\":1,\"ts\":1}");
        device.publish(valid + "/command-reply", "{\"version\":1,\"ts\":1}");
        send(device, valid + "/update", "[1,2]", "payload.not-json", expectedReason);
        send(device, valid + "/checkpoint", "", "payload.not-json", expectedReason);
        send(device, valid + "/update", "{\"pad\":\"" + "x".repeat(300 * 1024) + "\"}", "payload.too-large", expectedReason);
        send(device, "fleet/rae/RAE-1/device/not-a-uuid/update", "{}", "device.session-id-invalid", expectedReason);
        send(device, "fleet/rae/RAE-1/device/" + session.toUpperCase() + "/update", "{}", "device.session-id-invalid", expectedReason);
        send(device, "fleet/rae/-bad/device/" + session + "/connection", "{}", "device.rae-serial-invalid", expectedReason);
      }
      int expectedDead = FLOOD + expectedReason.size();
      Poll.until(Duration.ofSeconds(60), () -> events.count() >= GOOD + 2 && dead.count() >= expectedDead,
          () -> events.count() + " events, " + dead.count() + " dead letters");
      long goodDone = BridgeFixture.since(goodStart).toMillis();
      MqttKafkaBridge b = bridge;
      Poll.until(Duration.ofSeconds(10), () -> b.health().inFlight() == 0, () -> "in flight " + b.health());

      List<Received> deadLetters = dead.records();
      Map<String, Long> byReason = deadLetters.stream()
          .collect(Collectors.groupingBy(r -> r.header(KafkaHeaders.ERROR_CODE), Collectors.counting()));
      Map<String, Long> metricDelta = new HashMap<>();
      deadLetterTotals().forEach((reason, n) -> {
        long delta = n - deadBefore.getOrDefault(reason, 0L);
        if (delta > 0) {
          metricDelta.put(reason, delta);
        }
      });
      long warnings = logged.list.stream()
          .filter(e -> e.getLevel() == Level.WARN && e.getFormattedMessage().startsWith("Dead-lettering")).count();
      System.out.printf("DeadLetterIT: %d dead letters by reason %s (metric %s), %d WARN lines for them; %d good"
              + " messages forwarded next to the flood within %d ms%n",
          deadLetters.size(), byReason, metricDelta, warnings, GOOD + 2, goodDone);

      assertEquals(expectedDead, deadLetters.size());
      assertEquals(Map.of("payload.not-json", (long) FLOOD + 2, "payload.too-large", 1L,
          "device.session-id-invalid", 2L, "device.rae-serial-invalid", 1L), byReason);
      assertEquals(byReason, metricDelta, "dead letters counted per reason");
      for (Received r : deadLetters) {
        assertEquals("bridge", r.header(KafkaHeaders.REJECTED_BY));
        assertFalse(r.header(KafkaHeaders.ERROR_DETAIL).isBlank());
        assertTrue(r.header("traceparent") != null && r.header(KafkaHeaders.MQTT_TOPIC) != null);
        String expected = expectedReason.get(r.header(KafkaHeaders.MQTT_TOPIC) + "|" + r.text());
        if (expected != null) {
          assertEquals(expected, r.header(KafkaHeaders.ERROR_CODE), r.header(KafkaHeaders.MQTT_TOPIC));
        }
      }
      Received oversized = deadLetters.stream()
          .filter(r -> "payload.too-large".equals(r.header(KafkaHeaders.ERROR_CODE))).findFirst().orElseThrow();
      assertEquals(InboundRecords.TRUNCATED_PAYLOAD_BYTES, oversized.value().length);

      // Good input kept flowing, complete and in order.
      Deliveries goodOnes = Deliveries.analyze(events.records().stream()
          .filter(r -> r.header(KafkaHeaders.MQTT_TOPIC).endsWith("/update")).toList(), Map.of(good.sessionKey(), GOOD));
      assertEquals(List.of(), goodOnes.missing());
      assertEquals(List.of(), goodOnes.outOfOrder());
      assertEquals(GOOD + 2, events.count());
      assertTrue(events.records().stream().allMatch(r -> r.key().equals(good.sessionKey())));

      // The command topics never reached this path: exactly what was published on the three
      // device-to-cloud channels was received.
      long received = BridgeMetrics.total(BridgeMetrics.MESSAGES_IN, BridgeMetrics.INBOUND) - inBefore;
      assertEquals(GOOD + 2 + expectedDead, received, "MQTT messages received by the bridge");
      assertTrue(events.records().stream().noneMatch(r -> r.header(KafkaHeaders.MQTT_TOPIC).contains("/command")));
      assertTrue(deadLetters.stream().noneMatch(r -> r.header(KafkaHeaders.MQTT_TOPIC).contains("/command")));

      // Rate-limited: one WARN per reason per interval, not one per message; with the session id.
      assertTrue(warnings >= 1 && warnings <= 2L * byReason.size(), warnings + " WARN lines");
      assertTrue(logged.list.stream().anyMatch(e -> bad.deviceSessionId().value()
          .equals(e.getMDCPropertyMap().get(LogIds.DEVICE_SESSION_ID))), "no WARN carried the session id");
      BridgeFixture.stop(bridge);
    } finally {
      forwarderLog.detachAppender(logged);
      BridgeFixture.stop(bridge);
      BridgeFixture.terminate(system);
      DevicePublisher.discardSession(broker.serverUri(), "fleetplane-bridge-" + instance);
    }
  }

  private static void send(DevicePublisher device, String topic, String payload, String reason,
      Map<String, String> expected) {
    device.publish(topic, payload.getBytes(StandardCharsets.UTF_8), null);
    expected.put(topic + "|" + (payload.length() > 100 ? "" : payload), reason);
  }

  private static Map<String, Long> deadLetterTotals() {
    Map<String, Long> totals = new HashMap<>();
    for (String reason : List.of("payload.not-json", "payload.too-large", "device.session-id-invalid",
        "device.rae-serial-invalid", "mqtt.topic-unknown")) {
      totals.put(reason, BridgeMetrics.total(BridgeMetrics.DEAD_LETTERS, Map.of("reason", reason)));
    }
    return totals;
  }
}
