package io.fleetplane.bridge;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.actor.typed.ActorSystem;
import io.fleetplane.bridge.support.BridgeFixture;
import io.fleetplane.bridge.support.Deliveries;
import io.fleetplane.bridge.support.DeviceStream;
import io.fleetplane.bridge.support.KafkaTopicReader;
import io.fleetplane.bridge.support.Poll;
import io.fleetplane.bridge.support.TestKafka;
import io.fleetplane.testkit.infra.EmbeddedKafka;
import io.fleetplane.testkit.infra.MosquittoBroker;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * Supervision of the Kafka side: an outage longer than the producer's delivery timeout fails the
 * producer. The stream then restarts with backoff (again and again while Kafka stays away, each
 * new producer giving up after {@code max-block}), the MQTT side reconnects so that the broker
 * resends what the failed stream held, and once Kafka is back everything arrives without anyone
 * restarting anything. Duplicates are allowed (at-least-once) and reported.
 */
class KafkaProducerFailureIT {

  private static final int MAX_IN_FLIGHT = 100;

  @Test
  void aFailedProducerRestartsWithBackoffAndTheBrokerRedeliversWhatItHeld() throws Exception {
    EmbeddedKafka kafka = TestKafka.own();
    TestKafka.Topics topics = TestKafka.Topics.unique("failure");
    kafka.createTopics(4, topics.deviceEvents(), topics.deadLetters());
    ActorSystem<Void> system = null;
    MqttKafkaBridge bridge = null;
    AtomicBoolean sampling = new AtomicBoolean(true);
    try (MosquittoBroker broker = MosquittoBroker.builder().configLine("max_queued_messages 0").start();
         KafkaTopicReader events = KafkaTopicReader.start(kafka.bootstrapServers(), topics.deviceEvents())) {
      Map<String, Object> config = BridgeFixture.config(broker.serverUri(), kafka.bootstrapServers(), topics,
          "failure-it");
      config.put("fleetplane.bridge.max-in-flight", MAX_IN_FLIGHT);
      config.put("fleetplane.bridge.mqtt.keep-alive", "60s");
      // Give up on Kafka quickly so that the outage below outlasts the producer.
      config.put("fleetplane.bridge.kafka-producer.delivery-timeout", "3s");
      config.put("fleetplane.bridge.kafka-producer.request-timeout", "2s");
      config.put("fleetplane.bridge.kafka-producer.max-block", "2s");
      config.put("fleetplane.bridge.kafka-producer.close-timeout", "1s");
      system = BridgeFixture.system("failure-it", config);
      bridge = BridgeFixture.launch(system, config);
      MqttKafkaBridge b = bridge;
      AtomicInteger maxInFlight = new AtomicInteger();
      AtomicBoolean sawRestarting = new AtomicBoolean();
      Thread sampler = new Thread(() -> {
        while (sampling.get()) {
          MqttKafkaBridge.Health h = b.health();
          maxInFlight.accumulateAndGet(h.inFlight(), Math::max);
          if (h.kafka().detail().startsWith("producer failed")) {
            sawRestarting.set(true);
          }
          Poll.pause(5);
        }
      }, "failure-it-sampler");
      sampler.setDaemon(true);
      sampler.start();

      long restartsBefore = BridgeMetrics.total(BridgeMetrics.KAFKA_STREAM_RESTARTS, BridgeMetrics.INBOUND);
      long redeliveriesBefore = BridgeMetrics.total(BridgeMetrics.REDELIVERY_REQUESTS, BridgeMetrics.INBOUND);
      DeviceStream stream = new DeviceStream(10).start(broker.serverUri(), 1, 256, 5_000);
      Poll.until(Duration.ofSeconds(30), () -> events.count() >= 200, () -> events.count() + " records");
      long stopAt = System.nanoTime();
      kafka.stop();
      Poll.until(Duration.ofSeconds(30),
          () -> BridgeMetrics.total(BridgeMetrics.KAFKA_STREAM_RESTARTS, BridgeMetrics.INBOUND) > restartsBefore,
          () -> "the Kafka stream never failed; health " + b.health());
      long failedAfter = BridgeFixture.since(stopAt).toMillis();
      // Let a few restarts with backoff happen against the absent broker (timing the outage).
      while (BridgeFixture.since(stopAt).toSeconds() < 8) {
        Poll.pause(100);
      }
      kafka.restart();
      long backAt = System.nanoTime();
      Poll.until(Duration.ofSeconds(30), () -> BridgeFixture.since(backAt).toSeconds() >= 2, () -> "");
      stream.stop();
      Poll.until(Duration.ofSeconds(60),
          () -> Deliveries.analyze(events.records(), stream.expected()).missing().isEmpty(),
          () -> Deliveries.analyze(events.records(), stream.expected()).summary() + "; " + b.health());
      long recovered = BridgeFixture.since(backAt).toMillis();
      Poll.until(Duration.ofSeconds(20), () -> b.health().healthy(), () -> "health " + b.health());
      sampling.set(false);

      Deliveries deliveries = Deliveries.analyze(events.records(), stream.expected());
      long restarts = BridgeMetrics.total(BridgeMetrics.KAFKA_STREAM_RESTARTS, BridgeMetrics.INBOUND) - restartsBefore;
      long redeliveries = BridgeMetrics.total(BridgeMetrics.REDELIVERY_REQUESTS, BridgeMetrics.INBOUND)
          - redeliveriesBefore;
      System.out.printf("KafkaProducerFailureIT: producer failed %d ms after Kafka stopped; %d stream restarts,"
              + " %d redelivery reconnects; everything delivered %d ms after Kafka returned: %s; max in flight %d%n",
          failedAfter, restarts, redeliveries, recovered, deliveries.summary(), maxInFlight.get());

      assertEquals(List.of(), deliveries.missing(), "lost");
      assertTrue(restarts >= 1 && redeliveries >= 1, restarts + " restarts, " + redeliveries + " redeliveries");
      assertTrue(sawRestarting.get(), "health never reported the producer failure");
      assertTrue(maxInFlight.get() <= MAX_IN_FLIGHT, "in flight " + maxInFlight.get());
      BridgeFixture.stop(bridge);
    } finally {
      sampling.set(false);
      BridgeFixture.stop(bridge);
      BridgeFixture.terminate(system);
      kafka.stop();
      TestKafka.delete(kafka.logDir());
    }
  }
}
