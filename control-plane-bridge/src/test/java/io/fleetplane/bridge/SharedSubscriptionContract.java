package io.fleetplane.bridge;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.actor.typed.ActorSystem;
import io.fleetplane.bridge.support.BridgeFixture;
import io.fleetplane.bridge.support.Deliveries;
import io.fleetplane.bridge.support.DeviceFleet;
import io.fleetplane.bridge.support.DevicePublisher;
import io.fleetplane.bridge.support.KafkaTopicReader;
import io.fleetplane.bridge.support.KafkaTopicReader.Received;
import io.fleetplane.bridge.support.Poll;
import io.fleetplane.bridge.support.TestKafka;
import io.fleetplane.config.KafkaHeaders;
import io.fleetplane.testkit.infra.EmbeddedKafka;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * Done-when 5: two bridge instances, each with its own client id, on one MQTT 5 shared
 * subscription: every message reaches Kafka exactly once. How the broker splits the messages is
 * its business (HiveMQ CE does not spread them evenly), so only the split's sum is asserted.
 * One contract, run against each broker the project uses ({@link SharedSubscriptionMosquittoIT},
 * {@link SharedSubscriptionHiveMqIT}).
 */
abstract class SharedSubscriptionContract {

  /** The broker's URI; the broker lives at least as long as the test. */
  abstract String brokerUri();

  /** Pause per message per publisher connection, for a broker that cannot take full speed. */
  abstract long publishPauseMicros();

  /** Messages per device session (30 sessions). */
  abstract int messagesPerSession();

  /** Sessions a broker that outlives the test must forget afterwards. */
  abstract boolean brokerOutlivesTest();

  @Test
  void twoInstancesOnOneSharedSubscriptionForwardEveryMessageExactlyOnce() throws Exception {
    EmbeddedKafka kafka = TestKafka.shared();
    String uri = brokerUri();
    TestKafka.Topics topics = TestKafka.Topics.unique("shared");
    kafka.createTopics(4, topics.deviceEvents(), topics.deadLetters());
    String run = UUID.randomUUID().toString().substring(0, 6);
    String group = "bridges-" + run;
    ActorSystem<Void> system = null;
    MqttKafkaBridge a = null;
    MqttKafkaBridge b = null;
    try (KafkaTopicReader events = KafkaTopicReader.start(kafka.bootstrapServers(), topics.deviceEvents())) {
      Map<String, Object> configA = BridgeFixture.config(uri, kafka.bootstrapServers(), topics,
          "shared-a-" + run);
      configA.put("fleetplane.bridge.mqtt.shared-subscription-group", group);
      Map<String, Object> configB = new HashMap<>(configA);
      configB.put("fleetplane.bridge.instance-id", "shared-b-" + run);
      system = BridgeFixture.system("shared-it", configA);
      a = BridgeFixture.launch(system, configA);
      b = BridgeFixture.launch(system, configB);

      long inBefore = BridgeMetrics.total(BridgeMetrics.MESSAGES_IN, BridgeMetrics.INBOUND);
      DeviceFleet fleet = new DeviceFleet(30, messagesPerSession());
      long t0 = System.nanoTime();
      fleet.publish(uri, 3, 200, publishPauseMicros()).get(120, TimeUnit.SECONDS);
      long published = BridgeFixture.since(t0).toMillis();
      Poll.until(Duration.ofSeconds(60),
          () -> Deliveries.analyze(events.records(), fleet.expected()).missing().isEmpty(),
          () -> Deliveries.analyze(events.records(), fleet.expected()).summary() + "; published in " + published
              + " ms; the bridges received " + (BridgeMetrics.total(BridgeMetrics.MESSAGES_IN, BridgeMetrics.INBOUND)
              - inBefore) + "; stale " + BridgeMetrics.total(BridgeMetrics.STALE_MESSAGES, BridgeMetrics.INBOUND)
              + ", intake pauses " + BridgeMetrics.total(BridgeMetrics.INTAKE_PAUSES, BridgeMetrics.INBOUND));
      long delivered = BridgeFixture.since(t0).toMillis();
      MqttKafkaBridge bridgeA = a;
      MqttKafkaBridge bridgeB = b;
      // Nothing in flight any more, so nothing else can arrive: the counts are final.
      Poll.until(Duration.ofSeconds(10), () -> bridgeA.health().inFlight() == 0 && bridgeB.health().inFlight() == 0,
          () -> "in flight " + bridgeA.health().inFlight() + " / " + bridgeB.health().inFlight());

      List<Received> records = events.records();
      Deliveries deliveries = Deliveries.analyze(records, fleet.expected());
      Map<String, Long> split = records.stream()
          .collect(Collectors.groupingBy(r -> r.header(KafkaHeaders.BRIDGE_INSTANCE), Collectors.counting()));
      System.out.printf(getClass().getSimpleName() + ": %d messages through 2 instances in %d ms, split %s; %s%n",
          fleet.total(), delivered, split, deliveries.summary());

      assertEquals(fleet.total(), records.size(), "records in Kafka");
      assertEquals(List.of(), deliveries.missing(), "lost");
      assertEquals(0, deliveries.duplicates(), "duplicated");
      assertEquals(fleet.total(), split.values().stream().mapToLong(Long::longValue).sum());
      assertTrue(split.keySet().stream().allMatch(i -> i.equals("shared-a-" + run) || i.equals("shared-b-" + run)),
          split.toString());
      assertTrue(a.health().healthy() && b.health().healthy());
      BridgeFixture.stop(a);
      BridgeFixture.stop(b);
    } finally {
      BridgeFixture.stop(a);
      BridgeFixture.stop(b);
      BridgeFixture.terminate(system);
      if (brokerOutlivesTest()) {
        DevicePublisher.discardSession(uri, "fleetplane-bridge-shared-a-" + run);
        DevicePublisher.discardSession(uri, "fleetplane-bridge-shared-b-" + run);
      }
    }
  }
}
