package io.fleetplane.registry;

import static io.fleetplane.registry.RegistryFixture.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.actor.typed.ActorSystem;
import io.fleetplane.config.KafkaHeaders;
import io.fleetplane.config.metrics.Metrics;
import io.fleetplane.registry.domain.Liveness;
import io.fleetplane.testkit.infra.EmbeddedKafka;
import io.fleetplane.testkit.infra.PostgresEndpoint;
import io.fleetplane.testkit.infra.TestPostgres;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The registry's ingest on the real in-process Kafka broker and a real PostgreSQL journal. */
class DeviceIngestIT {

  private static EmbeddedKafka kafka;
  private static PostgresEndpoint db;

  @BeforeAll
  static void start() throws Exception {
    kafka = EmbeddedKafka.start(0, Files.createTempDirectory("fp-registry-it-"));
    db = TestPostgres.newSchema();
    RegistryFixture.migrate(db);
  }

  @AfterAll
  static void stop() {
    if (kafka != null) {
      kafka.close();
    }
    if (db != null) {
      TestPostgres.dropSchema(db);
    }
  }

  private static String newTopic(int partitions) {
    String topic = "it-device-events-" + UUID.randomUUID().toString().substring(0, 8);
    kafka.createTopics(partitions, topic, topic + ".dead-letters");
    return topic;
  }

  private static List<String> sessions(int n) {
    List<String> sessions = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      sessions.add(UUID.randomUUID().toString());
    }
    return sessions;
  }

  /** Publishes {@code perSession} updates to every session, interleaved; update i sets n=i. */
  private static void publishInterleaved(String topic, List<String> sessions, int perSession) throws Exception {
    List<java.util.concurrent.Future<?>> sent = new ArrayList<>();
    try (KafkaProducer<String, byte[]> producer = RegistryFixture.producer(kafka)) {
      for (int i = 0; i < perSession; i++) {
        for (String session : sessions) {
          sent.add(producer.send(RegistryFixture.deviceRecord(topic, "RAE-IT", session, "update",
              "{\"ts\":" + (1000 + i) + ",\"attributes\":{\"n\":" + i + "}}")));
        }
      }
      producer.flush();
    }
    for (java.util.concurrent.Future<?> future : sent) {
      future.get(30, TimeUnit.SECONDS); // test input must really be in Kafka
    }
  }

  private static DeviceSession.Active active(ActorSystem<?> system, String session) throws Exception {
    return assertInstanceOf(DeviceSession.SessionFound.class, RegistryFixture.get(system, session)).session();
  }

  private static boolean allAt(ActorSystem<?> system, List<String> sessions, long applied) {
    try {
      for (String session : sessions) {
        if (!(RegistryFixture.get(system, session) instanceof DeviceSession.SessionFound found)
            || found.session().appliedMessages() < applied) {
          return false;
        }
      }
      return true;
    } catch (Exception e) {
      return false;
    }
  }

  private static long processed(String result) {
    return Metrics.count(DeviceEventsIngest.METRIC_PROCESSED, Map.of("result", result));
  }

  @Test
  void everySessionEndsAtItsLastUpdateAndAFullReplayChangesNothing() throws Exception {
    String topic = newTopic(4);
    List<String> sessions = sessions(100);
    publishInterleaved(topic, sessions, 200);
    ActorSystem<Void> system = RegistryFixture.startNode(RegistryFixture.config(db, kafka, topic, "ordered"));
    try {
      DeviceEventsIngest ingest = RegistryFixture.startIngest(system);
      await("100 sessions x 200 updates applied", Duration.ofSeconds(120), () -> allAt(system, sessions, 200));
      for (String session : sessions) {
        DeviceSession.Active state = active(system, session);
        assertEquals(199, state.attributes().get("n").value().asInt(), "last update wins: " + session);
        assertEquals(200, state.appliedMessages());
      }
      ingest.stop().toCompletableFuture().get(30, TimeUnit.SECONDS);

      // Redeliver the whole topic from offset 0 (a new consumer group): nothing may change.
      long ignoredBefore = processed("ignored");
      DeviceEventsIngest replay = DeviceEventsIngest.start(system,
          RegistrySettings.fromConfig(RegistryFixture.startConfig(system, "replay")),
          io.fleetplane.config.KafkaSettings.fromConfig(system.settings().config()));
      await("20,000 redelivered records ignored", Duration.ofSeconds(120),
          () -> processed("ignored") - ignoredBefore >= 20_000);
      for (String session : sessions) {
        DeviceSession.Active state = active(system, session);
        assertEquals(199, state.attributes().get("n").value().asInt());
        assertEquals(200, state.appliedMessages(), "a replay applies nothing");
      }
      replay.stop().toCompletableFuture().get(30, TimeUnit.SECONDS);
    } finally {
      RegistryFixture.stop(system);
    }
  }

  @Test
  void poisonRecordsAreDeadLetteredAndValidOnesAllApplied() throws Exception {
    String topic = newTopic(2);
    String session = UUID.randomUUID().toString();
    long deadBefore = Metrics.count(DeviceEventsIngest.METRIC_DEAD_LETTERS, Map.of("reason", "payload.invalid"))
        + Metrics.count(DeviceEventsIngest.METRIC_DEAD_LETTERS, Map.of("reason", "payload.not-json"))
        + Metrics.count(DeviceEventsIngest.METRIC_DEAD_LETTERS, Map.of("reason", "mqtt.topic-unknown"));
    try (KafkaProducer<String, byte[]> producer = RegistryFixture.producer(kafka)) {
      for (int i = 0; i < 50; i++) {
        producer.send(RegistryFixture.deviceRecord(topic, "RAE-P", session, "update",
            "{\"ts\":" + (i + 1) + ",\"attributes\":{\"n\":" + i + "}}")).get();
        if (i % 10 == 5) {
          producer.send(RegistryFixture.deviceRecord(topic, "RAE-P", session, "update", "{not json")).get();
          producer.send(RegistryFixture.deviceRecord(topic, "RAE-P", session, "update", "{\"attributes\":{}}")).get();
        }
      }
      // A record whose key does not match its topic header.
      var mismatched = RegistryFixture.deviceRecord(topic, "RAE-P", session, "update", "{\"ts\":1}");
      producer.send(new org.apache.kafka.clients.producer.ProducerRecord<>(topic, null,
          "fleet/rae/RAE-P/device/" + UUID.randomUUID(), mismatched.value(), mismatched.headers())).get();
      producer.flush();
    }
    ActorSystem<Void> system = RegistryFixture.startNode(RegistryFixture.config(db, kafka, topic, "poison"));
    try {
      DeviceEventsIngest ingest = RegistryFixture.startIngest(system);
      await("50 valid updates applied", Duration.ofSeconds(60), () -> allAt(system, List.of(session), 50));
      assertEquals(49, active(system, session).attributes().get("n").value().asInt());

      Map<String, Integer> reasons = new HashMap<>();
      try (KafkaConsumer<String, byte[]> consumer = consumer()) {
        consumer.subscribe(List.of(topic + ".dead-letters"));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (reasons.values().stream().mapToInt(Integer::intValue).sum() < 11 && System.nanoTime() < deadline) {
          for (ConsumerRecord<String, byte[]> record : consumer.poll(Duration.ofMillis(200))) {
            String code = new String(record.headers().lastHeader(KafkaHeaders.ERROR_CODE).value(), StandardCharsets.UTF_8);
            assertEquals("registry", new String(record.headers().lastHeader(KafkaHeaders.REJECTED_BY).value(),
                StandardCharsets.UTF_8));
            reasons.merge(code, 1, Integer::sum);
          }
        }
      }
      assertEquals(Map.of("payload.not-json", 5, "payload.invalid", 5, "mqtt.topic-unknown", 1), reasons);
      long deadAfter = Metrics.count(DeviceEventsIngest.METRIC_DEAD_LETTERS, Map.of("reason", "payload.invalid"))
          + Metrics.count(DeviceEventsIngest.METRIC_DEAD_LETTERS, Map.of("reason", "payload.not-json"))
          + Metrics.count(DeviceEventsIngest.METRIC_DEAD_LETTERS, Map.of("reason", "mqtt.topic-unknown"));
      assertEquals(11, deadAfter - deadBefore, "every poison record is counted");
      ingest.stop().toCompletableFuture().get(30, TimeUnit.SECONDS);
    } finally {
      RegistryFixture.stop(system);
    }
  }

  @Test
  void aGracefulStopCommitsExactlyWhatWasProcessed() throws Exception {
    String topic = newTopic(4);
    List<String> sessions = sessions(50);
    publishInterleaved(topic, sessions, 100);
    ActorSystem<Void> system = RegistryFixture.startNode(RegistryFixture.config(db, kafka, topic, "graceful"));
    try {
      long appliedBefore = processed("applied");
      long ignoredBefore = processed("ignored");
      DeviceEventsIngest ingest = RegistryFixture.startIngest(system);
      await("some records applied", Duration.ofSeconds(60), () -> processed("applied") - appliedBefore >= 1000);
      ingest.stop().toCompletableFuture().get(30, TimeUnit.SECONDS);
      long processedAtStop = processed("applied") - appliedBefore;
      assertTrue(processedAtStop < 5000, "stopped mid-stream (" + processedAtStop + ")");
      assertEquals(processedAtStop, committedRecords("graceful", topic),
          "committed offsets equal the records processed before the stop");

      DeviceEventsIngest resumed = RegistryFixture.startIngest(system);
      await("the rest applied", Duration.ofSeconds(60), () -> allAt(system, sessions, 100));
      resumed.stop().toCompletableFuture().get(30, TimeUnit.SECONDS);
      assertEquals(5000, processed("applied") - appliedBefore, "every record applied once");
      assertEquals(0, processed("ignored") - ignoredBefore, "nothing was redelivered after the graceful stop");
    } finally {
      RegistryFixture.stop(system);
    }
  }

  @Test
  void aNodeKilledMidStreamLosesNothing() throws Exception {
    String topic = newTopic(4);
    List<String> sessions = sessions(50);
    publishInterleaved(topic, sessions, 100);
    Map<String, Object> config = RegistryFixture.config(db, kafka, topic, "crash");
    long appliedBefore = processed("applied");
    ActorSystem<Void> first = RegistryFixture.startNode(config);
    RegistryFixture.startIngest(first);
    await("some records applied", Duration.ofSeconds(60), () -> processed("applied") - appliedBefore >= 1000);
    RegistryFixture.stop(first); // no drain, no final commit: like a crash of the node

    ActorSystem<Void> second = RegistryFixture.startNode(config);
    try {
      DeviceEventsIngest ingest = RegistryFixture.startIngest(second);
      await("every session complete after the restart", Duration.ofSeconds(90), () -> allAt(second, sessions, 100));
      for (String session : sessions) {
        DeviceSession.Active state = active(second, session);
        assertEquals(99, state.attributes().get("n").value().asInt());
        assertEquals(100, state.appliedMessages(), "no update applied twice, none lost");
      }
      ingest.stop().toCompletableFuture().get(30, TimeUnit.SECONDS);
    } finally {
      RegistryFixture.stop(second);
    }
  }

  @Test
  void aConsumerCrashedMidStreamRestartsAndLosesNothing() throws Exception {
    String topic = newTopic(4);
    List<String> sessions = sessions(50);
    publishInterleaved(topic, sessions, 100);
    ActorSystem<Void> system = RegistryFixture.startNode(RegistryFixture.config(db, kafka, topic, "consumer-crash"));
    try {
      long appliedBefore = processed("applied");
      long restartsBefore = Metrics.count(DeviceEventsIngest.METRIC_RESTARTS, Map.of());
      DeviceEventsIngest ingest = RegistryFixture.startIngest(system);
      await("some records applied", Duration.ofSeconds(60), () -> processed("applied") - appliedBefore >= 1000);
      // The stream dies with records in flight and offsets uncommitted; the node stays up.
      ingest.crashConsumer(new IllegalStateException("consumer crash (test)"));
      await("the consumer restarted", Duration.ofSeconds(30),
          () -> Metrics.count(DeviceEventsIngest.METRIC_RESTARTS, Map.of()) > restartsBefore);
      await("every session complete after the restart", Duration.ofSeconds(90), () -> allAt(system, sessions, 100));
      for (String session : sessions) {
        DeviceSession.Active state = active(system, session);
        assertEquals(99, state.attributes().get("n").value().asInt(), "last update wins: " + session);
        assertEquals(100, state.appliedMessages(), "no update applied twice, none lost");
      }
      assertEquals(5000, processed("applied") - appliedBefore, "every record applied exactly once");
      assertTrue(ingest.isRunning(), "the restarted consumer runs on");
      ingest.stop().toCompletableFuture().get(30, TimeUnit.SECONDS);
      assertEquals(5000, committedRecords("consumer-crash", topic), "the restarted consumer committed everything");
    } finally {
      RegistryFixture.stop(system);
    }
  }

  @Test
  void aCheckpointAfterAGapRepairsTheStateAndSilenceTurnsLivenessUnknown() throws Exception {
    String topic = newTopic(2);
    String session = UUID.randomUUID().toString();
    Map<String, Object> config = RegistryFixture.config(db, kafka, topic, "checkpoint");
    config.put("fleetplane.registry.liveness.unknown-after", "2s");
    ActorSystem<Void> system = RegistryFixture.startNode(config);
    try (KafkaProducer<String, byte[]> producer = RegistryFixture.producer(kafka)) {
      DeviceEventsIngest ingest = RegistryFixture.startIngest(system);
      Duration unknownAfter = RegistrySettings.fromConfig(system.settings().config()).unknownAfter();
      producer.send(RegistryFixture.deviceRecord(topic, "RAE-C", session, "connection",
          "{\"ts\":1,\"connected\":true}")).get();
      producer.send(RegistryFixture.deviceRecord(topic, "RAE-C", session, "update",
          "{\"ts\":2,\"state\":\"in-test\",\"attributes\":{\"esn\":\"E1\",\"firmware\":\"1.0\",\"temp\":40}}")).get();
      await("connection and first update applied", Duration.ofSeconds(60), () -> allAt(system, List.of(session), 2));
      // The device's ts=3 update (firmware 1.1, temp gone) never reaches Kafka: a gap. Its ts=4
      // checkpoint carries the full record and must replace, not merge.
      producer.send(RegistryFixture.deviceRecord(topic, "RAE-C", session, "checkpoint",
          "{\"ts\":4,\"state\":\"available\",\"attributes\":{\"esn\":\"E1\",\"firmware\":\"1.1\"}}")).get();
      await("checkpoint applied", Duration.ofSeconds(60), () -> allAt(system, List.of(session), 3));
      DeviceSession.Active repaired = active(system, session);
      assertEquals(java.util.Set.of("esn", "firmware"), repaired.attributes().keySet(), "the checkpoint replaced");
      assertEquals("1.1", repaired.attributes().get("firmware").value().asText());
      assertEquals(java.util.Optional.of("available"), repaired.testState());

      // The missing update shows up late: older than the checkpoint, so it is ignored.
      long staleBefore = Metrics.count(DeviceSession.METRIC_STALE_IGNORED, Map.of("reason", "stale"));
      producer.send(RegistryFixture.deviceRecord(topic, "RAE-C", session, "update",
          "{\"ts\":3,\"attributes\":{\"firmware\":\"1.0-late\"}}")).get();
      await("the late update ignored as stale", Duration.ofSeconds(60),
          () -> Metrics.count(DeviceSession.METRIC_STALE_IGNORED, Map.of("reason", "stale")) > staleBefore);
      assertEquals("1.1", active(system, session).attributes().get("firmware").value().asText());
      assertEquals(3, active(system, session).appliedMessages());

      // Silence: CONNECTED turns UNKNOWN once unknown-after has passed since the last record.
      assertEquals(Liveness.Connection.CONNECTED,
          active(system, session).liveness(java.time.Instant.now(), unknownAfter).connection());
      await("liveness UNKNOWN after silence", Duration.ofSeconds(30), () -> {
        try {
          return active(system, session).liveness(java.time.Instant.now(), unknownAfter).connection()
              == Liveness.Connection.UNKNOWN;
        } catch (Exception e) {
          return false;
        }
      });
      DeviceSession.Active silent = active(system, session);
      assertEquals(silent.lastHeardAt().plus(unknownAfter),
          silent.liveness(java.time.Instant.now(), unknownAfter).asOf(), "unknown as of the end of the grace time");

      // The next message brings it back.
      producer.send(RegistryFixture.deviceRecord(topic, "RAE-C", session, "update",
          "{\"ts\":5,\"attributes\":{\"temp\":41}}")).get();
      await("next update applied", Duration.ofSeconds(60), () -> allAt(system, List.of(session), 4));
      assertEquals(Liveness.Connection.CONNECTED,
          active(system, session).liveness(java.time.Instant.now(), unknownAfter).connection(),
          "heard again: CONNECTED");
      ingest.stop().toCompletableFuture().get(30, TimeUnit.SECONDS);
    } finally {
      RegistryFixture.stop(system);
    }
  }

  private static long committedRecords(String group, String topic) throws Exception {
    Properties p = new Properties();
    p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
    try (Admin admin = Admin.create(p)) {
      Map<TopicPartition, OffsetAndMetadata> offsets =
          admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get(10, TimeUnit.SECONDS);
      return offsets.entrySet().stream().filter(e -> e.getKey().topic().equals(topic))
          .mapToLong(e -> e.getValue().offset()).sum();
    }
  }

  private static KafkaConsumer<String, byte[]> consumer() {
    Properties p = new Properties();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
    p.put(ConsumerConfig.GROUP_ID_CONFIG, "it-reader-" + UUID.randomUUID());
    p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    return new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer());
  }
}
