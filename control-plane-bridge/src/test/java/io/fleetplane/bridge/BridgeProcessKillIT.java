package io.fleetplane.bridge;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fleetplane.bridge.support.ChildBridge;
import io.fleetplane.bridge.support.Deliveries;
import io.fleetplane.bridge.support.DeviceStream;
import io.fleetplane.bridge.support.KafkaTopicReader;
import io.fleetplane.bridge.support.Poll;
import io.fleetplane.bridge.support.TestKafka;
import io.fleetplane.config.KafkaHeaders;
import io.fleetplane.testkit.infra.EmbeddedKafka;
import io.fleetplane.testkit.infra.FreePorts;
import io.fleetplane.testkit.infra.MosquittoBroker;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Done-when 3: the bridge, as its own process ({@code BridgeMain}), is killed with SIGKILL in the
 * middle of a stream and started again with the same instance id (so the same MQTT session).
 * Every message arrives; the ones Kafka had but the broker never got an acknowledgement for
 * arrive twice (at-least-once), and the test reports how many. Then SIGTERM stops the second
 * process gracefully in the middle of the stream (exit code 143 after the shutdown hook drained
 * it) and a third process takes over: a graceful stop adds no duplicate and loses nothing.
 */
class BridgeProcessKillIT {

  @Test
  void killDashNineMidStreamLosesNothing() throws Exception {
    EmbeddedKafka kafka = TestKafka.shared();
    TestKafka.Topics topics = TestKafka.Topics.unique("kill");
    kafka.createTopics(4, topics.deviceEvents(), topics.deadLetters());
    Path logs = Files.createDirectories(Path.of("target", "bridge-processes"));
    ChildBridge first = null;
    ChildBridge second = null;
    MosquittoBroker broker = MosquittoBroker.builder().configLine("max_queued_messages 0")
        .configLine("log_type debug").start();
    try (KafkaTopicReader events = KafkaTopicReader.start(kafka.bootstrapServers(), topics.deviceEvents())) {
      Map<String, String> props = Map.of(
          "fleetplane.bridge.mqtt.server-uri", broker.serverUri(),
          "fleetplane.kafka.bootstrap-servers", kafka.bootstrapServers(),
          "fleetplane.kafka.topics.device-events", topics.deviceEvents(),
          "fleetplane.kafka.topics.dead-letters", topics.deadLetters(),
          // One MQTT session for all three processes; each its own instance id in the headers.
          "fleetplane.bridge.mqtt.client-id", "fleetplane-bridge-kill-it",
          "fleetplane.bridge.restart.min-backoff", "200ms",
          "fleetplane.bridge.restart.max-backoff", "2s",
          "akka.loglevel", "WARNING");

      long t0 = System.nanoTime();
      first = ChildBridge.start(props, "kill-it-1", FreePorts.next(), logs.resolve("kill-it-1.log"));
      ChildBridge firstBridge = first;
      Poll.until(Duration.ofSeconds(60), firstBridge::healthy,
          () -> "first bridge process not healthy; see " + firstBridge.log());
      long firstUp = Duration.ofNanos(System.nanoTime() - t0).toMillis();

      DeviceStream stream = new DeviceStream(20).start(broker.serverUri(), 2, 512, 2_000);
      Poll.until(Duration.ofSeconds(30), () -> events.count() >= 1_500, () -> events.count() + " records");
      // Mid-stream for real: kill while messages are between MQTT and Kafka's acknowledgement.
      Poll.until(Duration.ofSeconds(30), () -> inFlight(firstBridge.get("/health")) > 0,
          () -> "nothing in flight in the first process");
      HttpResponse<String> healthAtKill = first.get("/health");
      int inKafkaAtKill = events.count();
      first.kill();
      int publishedAtKill = stream.published();

      long t1 = System.nanoTime();
      second = ChildBridge.start(props, "kill-it-2", FreePorts.next(), logs.resolve("kill-it-2.log"));
      ChildBridge secondBridge = second;
      Poll.until(Duration.ofSeconds(60), secondBridge::healthy,
          () -> "second bridge process not healthy; see " + secondBridge.log());
      long secondUp = Duration.ofNanos(System.nanoTime() - t1).toMillis();
      int recordsWhenBack = events.count();
      Poll.until(Duration.ofSeconds(30), () -> events.count() >= recordsWhenBack + 1_000,
          () -> "second process forwarded " + (events.count() - recordsWhenBack));
      HttpResponse<String> metrics = second.get("/metrics");

      // Graceful stop in the middle of the stream: drain, acknowledge, disconnect. The third
      // process then gets only what the second never took, so this adds no duplicate.
      HttpResponse<String> healthAtTerm = second.get("/health");
      int exitSecond = second.terminate(Duration.ofSeconds(40));
      ChildBridge third = ChildBridge.start(props, "kill-it-3", FreePorts.next(), logs.resolve("kill-it-3.log"));
      try {
        Poll.until(Duration.ofSeconds(60), third::healthy, () -> "third bridge process not healthy; see " + third.log());
        int recordsAtThird = events.count();
        Poll.until(Duration.ofSeconds(30), () -> events.count() >= recordsAtThird + 500,
            () -> "third process forwarded " + (events.count() - recordsAtThird));
        stream.stop();
        Poll.until(Duration.ofSeconds(60),
            () -> Deliveries.analyze(events.records(), stream.expected()).missing().isEmpty(),
            () -> Deliveries.analyze(events.records(), stream.expected()).summary());
        Poll.until(Duration.ofSeconds(20), () -> third.get("/health").body().contains("\"inFlight\":0"),
            () -> third.get("/health").body());
      } finally {
        third.close();
      }
      Deliveries deliveries = Deliveries.analyze(events.records(), stream.expected());
      // Who forwarded each copy tells which event caused a duplicate: the kill (copies from the
      // first and the second process) or the graceful stop (from the second and the third).
      List<String> duplicates = Deliveries.duplicateCopies(events.records(), KafkaHeaders.BRIDGE_INSTANCE);
      long duplicatesFromKill = duplicates.stream().filter(d -> d.contains("kill-it-1@")).count();
      List<String> duplicatesFromStop = duplicates.stream()
          .filter(d -> d.contains("kill-it-2@") && d.contains("kill-it-3@")).toList();
      String secondLog = Files.readString(second.log());
      System.out.printf("BridgeProcessKillIT: first process healthy after %d ms; killed (SIGKILL) with %d "
              + "records in Kafka, %d published, health then %s; second process healthy after %d ms;"
              + " duplicates from the kill: %d; SIGTERM of the second mid-stream (health then %s) exit code"
              + " %d; %d messages published in all: %s%n",
          firstUp, inKafkaAtKill, publishedAtKill, healthAtKill == null ? "?" : healthAtKill.body(),
          secondUp, duplicatesFromKill, healthAtTerm == null ? "?" : healthAtTerm.body(), exitSecond,
          stream.published(), deliveries.summary());
      duplicates.stream().limit(10).forEach(d -> System.out.println("BridgeProcessKillIT duplicate: " + d));

      assertEquals(List.of(), deliveries.missing(), "lost");
      assertEquals(List.of(), duplicatesFromStop, "duplicates caused by the graceful stop (copy@partition:offset)");
      assertEquals(200, metrics.statusCode());
      assertTrue(metrics.body().contains("fleetplane_bridge_messages_forwarded_total{channel=\"update\",direction=\"device-to-cloud\"}"),
          metrics.body());
      assertTrue(metrics.body().contains("fleetplane_bridge_mqtt_connected{direction=\"device-to-cloud\"} 1"),
          metrics.body());
      assertEquals(143, exitSecond, "exit code after SIGTERM; see " + second.log());
      assertTrue(secondLog.contains("Bridge kill-it-2 stopped"), "graceful stop not logged; see " + second.log());
    } finally {
      // The broker's packet log (PUBLISH/PUBACK per message id) explains any duplicate.
      Files.copy(broker.logFile(), logs.resolve("mosquitto.log"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
      broker.close();
      if (first != null) {
        first.close();
      }
      if (second != null) {
        second.close();
      }
    }
  }

  private static int inFlight(HttpResponse<String> health) {
    if (health == null) {
      return 0;
    }
    java.util.regex.Matcher m = java.util.regex.Pattern.compile("\"inFlight\":(\\d+)").matcher(health.body());
    return m.find() ? Integer.parseInt(m.group(1)) : 0;
  }
}
