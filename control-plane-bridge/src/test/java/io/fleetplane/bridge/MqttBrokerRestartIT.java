package io.fleetplane.bridge;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.actor.typed.ActorSystem;
import io.fleetplane.bridge.support.BridgeFixture;
import io.fleetplane.bridge.support.Deliveries;
import io.fleetplane.bridge.support.DeviceFleet;
import io.fleetplane.bridge.support.KafkaTopicReader;
import io.fleetplane.bridge.support.Poll;
import io.fleetplane.bridge.support.TestKafka;
import io.fleetplane.testkit.infra.EmbeddedKafka;
import io.fleetplane.testkit.infra.MosquittoBroker;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Supervision of the MQTT side: the broker goes away and comes back on the same address. The
 * bridge reports MQTT down, reconnects by itself with backoff, subscribes again, and forwards
 * what devices publish afterwards. (This Mosquitto keeps no state across restarts, so what it
 * held when it stopped is the broker's loss, not the bridge's: only messages published after it
 * returned are checked.)
 */
class MqttBrokerRestartIT {

  @Test
  void theBridgeReconnectsByItselfWhenTheBrokerReturns() throws Exception {
    EmbeddedKafka kafka = TestKafka.shared();
    TestKafka.Topics topics = TestKafka.Topics.unique("reconnect");
    kafka.createTopics(2, topics.deviceEvents(), topics.deadLetters());
    MosquittoBroker broker = MosquittoBroker.builder().start();
    int port = broker.port();
    ActorSystem<Void> system = null;
    MqttKafkaBridge bridge = null;
    try (KafkaTopicReader events = KafkaTopicReader.start(kafka.bootstrapServers(), topics.deviceEvents())) {
      Map<String, Object> config = BridgeFixture.config(broker.serverUri(), kafka.bootstrapServers(), topics,
          "reconnect-it");
      system = BridgeFixture.system("reconnect-it", config);
      bridge = BridgeFixture.launch(system, config);
      MqttKafkaBridge b = bridge;
      long reconnectsBefore = BridgeMetrics.total(BridgeMetrics.MQTT_RECONNECTS, BridgeMetrics.INBOUND);

      DeviceFleet before = new DeviceFleet(5, 20);
      before.publish(broker.serverUri(), 1, 100, 0).get(30, TimeUnit.SECONDS);
      Poll.until(Duration.ofSeconds(30), () -> events.count() >= before.total(), () -> events.count() + " records");

      broker.close();
      long downAt = System.nanoTime();
      Poll.until(Duration.ofSeconds(20), () -> !b.health().mqtt().up(), () -> "health " + b.health());
      String downDetail = b.health().detail();
      broker = MosquittoBroker.builder().port(port).start();
      Poll.until(Duration.ofSeconds(30), () -> b.health().healthy(), () -> "health " + b.health());
      long backAfter = BridgeFixture.since(downAt).toMillis();

      DeviceFleet after = new DeviceFleet(5, 20);
      after.publish(broker.serverUri(), 1, 100, 0).get(30, TimeUnit.SECONDS);
      Poll.until(Duration.ofSeconds(30),
          () -> Deliveries.analyze(events.records(), after.expected()).missing().isEmpty(),
          () -> Deliveries.analyze(events.records(), after.expected()).summary());
      long reconnects = BridgeMetrics.total(BridgeMetrics.MQTT_RECONNECTS, BridgeMetrics.INBOUND) - reconnectsBefore;
      System.out.printf("MqttBrokerRestartIT: health said \"%s\"; healthy again %d ms after the broker stopped"
          + " (%d reconnect); messages after the restart: %s%n", downDetail, backAfter, reconnects,
          Deliveries.analyze(events.records(), after.expected()).summary());

      assertTrue(downDetail.startsWith("mqtt: "), downDetail);
      assertEquals(1, reconnects);
      assertEquals(List.of(), Deliveries.analyze(events.records(), after.expected()).missing());
      assertEquals(0, Deliveries.analyze(events.records(), after.expected()).duplicates());
      BridgeFixture.stop(bridge);
    } finally {
      BridgeFixture.stop(bridge);
      BridgeFixture.terminate(system);
      broker.close();
    }
  }
}
