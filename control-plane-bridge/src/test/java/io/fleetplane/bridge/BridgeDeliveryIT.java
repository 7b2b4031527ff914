package io.fleetplane.bridge;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.actor.typed.ActorSystem;
import io.fleetplane.bridge.domain.TraceParent;
import io.fleetplane.bridge.support.BridgeFixture;
import io.fleetplane.bridge.support.Deliveries;
import io.fleetplane.bridge.support.DeviceFleet;
import io.fleetplane.bridge.support.DevicePublisher;
import io.fleetplane.bridge.support.KafkaTopicReader;
import io.fleetplane.bridge.support.KafkaTopicReader.Received;
import io.fleetplane.bridge.support.Poll;
import io.fleetplane.bridge.support.TestKafka;
import io.fleetplane.config.KafkaHeaders;
import io.fleetplane.config.ids.DeviceTopic;
import io.fleetplane.testkit.infra.EmbeddedKafka;
import io.fleetplane.testkit.infra.MosquittoBroker;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Done-when 1: 10,000 QoS 1 messages from 50 device sessions reach Kafka, each session's in
 * publish order, none lost, none duplicated, with the key and header contract of
 * docs/protocol.md. Real Mosquitto (its per-client queue unbounded so the broker itself drops
 * nothing) and real in-process Kafka.
 */
class BridgeDeliveryIT {

  private static final int SESSIONS = 50;
  private static final int PER_SESSION = 200;

  @Test
  void tenThousandMessagesFromFiftySessionsArriveOnceInOrder() throws Exception {
    EmbeddedKafka kafka = TestKafka.shared();
    TestKafka.Topics topics = TestKafka.Topics.unique("delivery");
    kafka.createTopics(8, topics.deviceEvents(), topics.deadLetters());
    Map<String, Object> config;
    ActorSystem<Void> system = null;
    MqttKafkaBridge bridge = null;
    try (MosquittoBroker broker = MosquittoBroker.builder().configLine("max_queued_messages 0").start();
         KafkaTopicReader events = KafkaTopicReader.start(kafka.bootstrapServers(), topics.deviceEvents());
         KafkaTopicReader dead = KafkaTopicReader.start(kafka.bootstrapServers(), topics.deadLetters())) {
      config = BridgeFixture.config(broker.serverUri(), kafka.bootstrapServers(), topics, "delivery-it");
      system = BridgeFixture.system("delivery-it", config);
      bridge = BridgeFixture.launch(system, config);

      // One message with the device's own trace context: it must travel unchanged.
      String deviceTrace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
      DeviceTopic traced = new DeviceFleet(1, 1).sessions().get(0);
      try (DevicePublisher device = DevicePublisher.connect(broker.serverUri())) {
        device.publish(traced.topic(), "{\"version\":1,\"ts\":1}".getBytes(StandardCharsets.UTF_8), deviceTrace);
      }

      DeviceFleet fleet = new DeviceFleet(SESSIONS, PER_SESSION);
      long t0 = System.nanoTime();
      fleet.publish(broker.serverUri(), 5, 200, 0).get(120, TimeUnit.SECONDS);
      Duration publishing = BridgeFixture.since(t0);
      int expected = fleet.total() + 1;
      MqttKafkaBridge b = bridge;
      Poll.until(Duration.ofSeconds(60),
          () -> events.count() >= expected && Deliveries.analyze(events.records(), fleet.expected()).missing().isEmpty(),
          () -> events.count() + " of " + expected + " records in Kafka; bridge: " + b.health());
      Duration delivered = BridgeFixture.since(t0);
      // Everything was acknowledged, so nothing further can come: the count is final.
      MqttKafkaBridge running = bridge;
      Poll.until(Duration.ofSeconds(10), () -> running.health().inFlight() == 0,
          () -> "in flight: " + running.health().inFlight());

      List<Received> records = events.records();
      Deliveries deliveries = Deliveries.analyze(records, fleet.expected());
      System.out.printf("BridgeDeliveryIT: %d messages published in %d ms, all in Kafka after %d ms"
          + " (%.0f msg/s); %s; in-flight high-water mark %d%n", fleet.total(), publishing.toMillis(),
          delivered.toMillis(), fleet.total() * 1000.0 / delivered.toMillis(), deliveries.summary(),
          bridge.health().inFlightHighWaterMark());
      assertEquals(expected, records.size(), "records in Kafka");
      assertEquals(List.of(), deliveries.missing(), "lost");
      assertEquals(0, deliveries.duplicates(), "duplicated");
      assertEquals(List.of(), deliveries.outOfOrder(), "sessions out of publish order");
      assertEquals(0, dead.count(), "dead letters");

      Received tracedRecord = records.stream().filter(r -> r.key().equals(traced.sessionKey()))
          .findFirst().orElseThrow();
      assertEquals(deviceTrace, tracedRecord.header("traceparent"));
      for (Received r : records) {
        DeviceTopic topic = DeviceTopic.parse(r.header(KafkaHeaders.MQTT_TOPIC));
        assertEquals(topic.sessionKey(), r.key());
        assertEquals("1", r.header(KafkaHeaders.MQTT_QOS));
        assertEquals("delivery-it", r.header(KafkaHeaders.BRIDGE_INSTANCE));
        assertTrue(Long.parseLong(r.header(KafkaHeaders.RECEIVED_AT)) > 0);
        assertTrue(TraceParent.parse(r.header("traceparent")).isPresent(), r.header("traceparent"));
      }
      // One session, one partition: that is what keeps a session's order.
      records.stream().collect(java.util.stream.Collectors.groupingBy(Received::key,
              java.util.stream.Collectors.mapping(Received::partition, java.util.stream.Collectors.toSet())))
          .forEach((key, partitions) -> assertEquals(1, partitions.size(), key));
      assertTrue(bridge.health().healthy(), bridge.health().detail());
      assertTrue(bridge.health().inFlightHighWaterMark() <= bridge.settings().maxInFlight());
      String metrics = bridge.metrics().prometheusText();
      assertTrue(metrics.contains("fleetplane_bridge_messages_forwarded_total{channel=\"update\",direction=\"device-to-cloud\"}"),
          metrics);
      // Stop while the broker is still there: a graceful stop, not a lost connection.
      BridgeFixture.stop(bridge);
    } finally {
      BridgeFixture.stop(bridge);
      BridgeFixture.terminate(system);
    }
  }
}
