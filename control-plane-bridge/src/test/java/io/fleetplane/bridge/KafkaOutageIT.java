package io.fleetplane.bridge;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.actor.typed.ActorSystem;
import io.fleetplane.bridge.support.BridgeFixture;
import io.fleetplane.bridge.support.Deliveries;
import io.fleetplane.bridge.support.DeviceStream;
import io.fleetplane.bridge.support.Heap;
import io.fleetplane.bridge.support.KafkaTopicReader;
import io.fleetplane.bridge.support.Poll;
import io.fleetplane.bridge.support.TestKafka;
import io.fleetplane.testkit.infra.EmbeddedKafka;
import io.fleetplane.testkit.infra.MosquittoBroker;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * Done-when 2: Kafka stops for 10 s in the middle of a stream of device messages and comes back.
 * Every message arrives; while Kafka is away the bridge stops taking from MQTT (in flight never
 * above its max-in-flight-bytes, heap flat, the broker holds the backlog), health says degraded and names
 * Kafka, and when Kafka returns the bridge catches up by itself and reports healthy.
 */
class KafkaOutageIT {

  private static final int MAX_IN_FLIGHT = 100;
  private static final int PAYLOAD_BYTES = 4 * 1024;
  private static final Duration OUTAGE = Duration.ofSeconds(10);

  @Test
  void aTenSecondKafkaOutageLosesNothingAndKeepsMemoryFlat() throws Exception {
    Path kafkaDir = null;
    EmbeddedKafka kafka = TestKafka.own();
    kafkaDir = kafka.logDir();
    TestKafka.Topics topics = TestKafka.Topics.unique("outage");
    kafka.createTopics(4, topics.deviceEvents(), topics.deadLetters());
    ActorSystem<Void> system = null;
    MqttKafkaBridge bridge = null;
    AtomicBoolean sampling = new AtomicBoolean(true);
    try (MosquittoBroker broker = MosquittoBroker.builder().configLine("max_queued_messages 0").start();
         KafkaTopicReader events = KafkaTopicReader.start(kafka.bootstrapServers(), topics.deviceEvents())) {
      Map<String, Object> config = BridgeFixture.config(broker.serverUri(), kafka.bootstrapServers(), topics,
          "outage-it");
      // The byte budget is what binds: the count allows ten times more, so the bounds asserted
      // below hold only if max-in-flight-bytes is enforced.
      config.put("fleetplane.bridge.max-in-flight", 10 * MAX_IN_FLIGHT);
      config.put("fleetplane.bridge.max-in-flight-bytes", MAX_IN_FLIGHT * PAYLOAD_BYTES);
      // Mosquitto 2.0.11 ignores receive-maximum once it has queued for us, so the bridge holds
      // its intake for the whole outage: give it more than the outage (half the keep-alive).
      config.put("fleetplane.bridge.mqtt.keep-alive", "60s");
      system = BridgeFixture.system("outage-it", config);
      bridge = BridgeFixture.launch(system, config);
      MqttKafkaBridge b = bridge;

      AtomicInteger maxInFlight = new AtomicInteger();
      AtomicBoolean sawDegraded = new AtomicBoolean();
      AtomicReference<String> degradedDetail = new AtomicReference<>();
      Thread sampler = new Thread(() -> {
        while (sampling.get()) {
          MqttKafkaBridge.Health h = b.health();
          maxInFlight.accumulateAndGet(h.inFlight(), Math::max);
          if (!h.kafka().up() && sawDegraded.compareAndSet(false, true)) {
            degradedDetail.set(h.detail());
          }
          Poll.pause(5);
        }
      }, "outage-it-sampler");
      sampler.setDaemon(true);
      sampler.start();

      // 20 sessions publishing 4 KiB messages (at most ~700 msg/s) before, during and after the outage.
      DeviceStream fleet = new DeviceStream(20).start(broker.serverUri(), 2, PAYLOAD_BYTES, 3_000);
      long t0 = System.nanoTime();
      Poll.until(Duration.ofSeconds(30), () -> events.count() >= 500, () -> events.count() + " records");

      long heapBefore = Heap.usedAfterGc();
      int publishedAtStop = fleet.published();
      long stopAt = System.nanoTime();
      kafka.stop();
      // Counted once Kafka is down: from here on no acknowledgement can free a slot.
      long inAtStop = BridgeMetrics.total(BridgeMetrics.MESSAGES_IN, BridgeMetrics.INBOUND);
      System.out.printf("KafkaOutageIT: Kafka stopped after %d ms (%d records in Kafka, %d published)%n",
          BridgeFixture.since(t0).toMillis(), events.count(), publishedAtStop);

      Poll.until(OUTAGE, () -> !b.health().kafka().up(), () -> "health still " + b.health());
      long degradedAfter = BridgeFixture.since(stopAt).toMillis();
      assertFalse(b.health().healthy());
      assertTrue(b.metrics().prometheusText().contains("fleetplane_bridge_kafka_stalled{direction=\"device-to-cloud\"} 1"));

      // Hold the outage (this waits for time on purpose: it is the outage, not an assertion).
      while (BridgeFixture.since(stopAt).compareTo(OUTAGE.minusSeconds(1)) < 0) {
        Poll.pause(100);
      }
      long heapDuring = Heap.usedAfterGc();
      long takenDuringOutage = BridgeMetrics.total(BridgeMetrics.MESSAGES_IN, BridgeMetrics.INBOUND) - inAtStop;
      int publishedDuringOutage = fleet.published() - publishedAtStop;
      int inFlightDuring = b.health().inFlight();
      while (BridgeFixture.since(stopAt).compareTo(OUTAGE) < 0) {
        Poll.pause(50);
      }
      kafka.restart();
      long restartedAt = System.nanoTime();
      System.out.printf("KafkaOutageIT: Kafka back after %d ms%n", BridgeFixture.since(stopAt).toMillis());

      // The stream goes on a little after Kafka is back, then stops; everything must arrive.
      Poll.until(Duration.ofSeconds(30), () -> events.count() > 0 && BridgeFixture.since(restartedAt).toSeconds() >= 2,
          () -> "Kafka back for 2 s");
      fleet.stop();
      Poll.until(Duration.ofSeconds(60),
          () -> Deliveries.analyze(events.records(), fleet.expected()).missing().isEmpty(),
          () -> Deliveries.analyze(events.records(), fleet.expected()).summary() + "; " + b.health());
      long caughtUp = BridgeFixture.since(restartedAt).toMillis();
      Poll.until(Duration.ofSeconds(20), () -> b.health().healthy(), () -> "health " + b.health());
      sampling.set(false);

      Deliveries deliveries = Deliveries.analyze(events.records(), fleet.expected());
      System.out.printf("KafkaOutageIT: degraded %d ms after the stop (\"%s\"); during the outage %d "
              + "messages were published and the bridge took %d (in flight %d); heap after GC %s before,"
              + " %s during (%s published in the outage); all %d delivered %d ms after Kafka returned;"
              + " %s; max in flight sampled %d, high-water mark %d%n",
          degradedAfter, degradedDetail.get(), publishedDuringOutage, takenDuringOutage, inFlightDuring,
          Heap.mib(heapBefore), Heap.mib(heapDuring), Heap.mib((long) publishedDuringOutage * PAYLOAD_BYTES),
          fleet.published(), caughtUp, deliveries.summary(), maxInFlight.get(), b.health().inFlightHighWaterMark());

      assertEquals(List.of(), deliveries.missing(), "lost");
      assertEquals(List.of(), deliveries.outOfOrder(), "first deliveries out of publish order");
      assertTrue(sawDegraded.get(), "health never said degraded");
      assertTrue(degradedDetail.get().contains("kafka"), degradedDetail.get());
      assertTrue(maxInFlight.get() <= MAX_IN_FLIGHT, "in flight " + maxInFlight.get());
      assertTrue(b.health().inFlightHighWaterMark() <= MAX_IN_FLIGHT);
      // Back-pressure: once Kafka was down the bridge took at most the free part of its window
      // (plus acknowledgements already on their way), however much the devices published.
      assertTrue(publishedDuringOutage > 4 * MAX_IN_FLIGHT, "published during outage " + publishedDuringOutage);
      assertTrue(takenDuringOutage <= 2L * MAX_IN_FLIGHT, "taken during outage " + takenDuringOutage);
      // Flat memory: far less than what was published meanwhile was retained.
      long growth = heapDuring - heapBefore;
      assertTrue(growth < 8L * 1024 * 1024, "heap grew by " + Heap.mib(growth));
      BridgeFixture.stop(bridge);
    } finally {
      sampling.set(false);
      BridgeFixture.stop(bridge);
      BridgeFixture.terminate(system);
      kafka.stop();
      TestKafka.delete(kafkaDir);
    }
  }
}
