package io.fleetplane.registry;

import static io.fleetplane.registry.RegistryFixture.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.actor.typed.ActorSystem;
import io.fleetplane.config.metrics.Metrics;
import io.fleetplane.testkit.Eventually;
import io.fleetplane.testkit.infra.EmbeddedKafka;
import io.fleetplane.testkit.infra.PostgresEndpoint;
import io.fleetplane.testkit.infra.TestPostgres;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Netflix canary burst against the registry (issue 4): 30,000 ~1 KB records published at once
 * while the node runs. The consumer must pull only as fast as the sessions persist (what it holds
 * in memory stays bounded far below the burst), the group's lag as Kafka sees it must return to
 * zero, and the retained heap must not grow with the burst. Throughput is not asserted here: it
 * is measured by {@code ./fleetplane bench ingest}.
 */
class IngestBurstIT {

  private static final Logger log = LoggerFactory.getLogger(IngestBurstIT.class);
  private static final int SESSIONS = 3_000;
  private static final int PER_SESSION = 10;
  private static final int RECORDS = SESSIONS * PER_SESSION;
  private static final int PARTITIONS = 8;
  private static final String GROUP = "burst";

  private static EmbeddedKafka kafka;
  private static PostgresEndpoint db;

  @BeforeAll
  static void start() throws Exception {
    kafka = EmbeddedKafka.start(0, Files.createTempDirectory("fp-registry-burst-"));
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

  @Test
  void aBurstOf30000RecordsDrainsToZeroLagWithBoundedMemory() throws Exception {
    String topic = "it-burst-" + UUID.randomUUID().toString().substring(0, 8);
    kafka.createTopics(PARTITIONS, topic, topic + ".dead-letters");
    ActorSystem<Void> system = RegistryFixture.startNode(RegistryFixture.config(db, kafka, topic, GROUP));
    ScheduledExecutorService sampler = Executors.newSingleThreadScheduledExecutor(r -> new Thread(r, "burst-sampler"));
    try {
      RegistrySettings settings = RegistrySettings.fromConfig(system.settings().config());
      DeviceEventsIngest ingest = RegistryFixture.startIngest(system);
      // As in a running node: partitions assigned before the burst starts.
      await("the consumer has its " + PARTITIONS + " partitions", Duration.ofSeconds(60), () -> assigned() == PARTITIONS);
      long heapBefore = retainedHeapMiB();
      long processedBefore = processed();

      // Fetched from Kafka but not yet persisted: what the node holds of the burst in memory.
      AtomicLong peakHeld = new AtomicLong();
      AtomicLong peakHeapMiB = new AtomicLong();
      // The lag the node itself reports (what the canary and operators read).
      AtomicLong peakReportedLag = new AtomicLong();
      long restartsBefore = Metrics.count(DeviceEventsIngest.METRIC_RESTARTS, Map.of());
      // A restarted consumer counts its fetches from 0 again: add up over consumers. Touched only
      // by the sampler's one thread: {fetched by earlier consumers, last fetched}.
      long[] fetchedSoFar = new long[2];
      sampler.scheduleAtFixedRate(() -> {
        long fetched = ingest.recordsFetched();
        if (fetched < fetchedSoFar[1]) {
          fetchedSoFar[0] += fetchedSoFar[1];
        }
        fetchedSoFar[1] = fetched;
        peakHeld.accumulateAndGet(fetchedSoFar[0] + fetched - (processed() - processedBefore), Math::max);
        peakReportedLag.accumulateAndGet(ingest.lag().sum(), Math::max);
        peakHeapMiB.accumulateAndGet(
            ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed() >> 20, Math::max);
      }, 0, 50, TimeUnit.MILLISECONDS);

      long start = System.nanoTime();
      List<String> sessions = new ArrayList<>();
      for (int s = 0; s < SESSIONS; s++) {
        sessions.add(UUID.randomUUID().toString());
      }
      String pad = "x".repeat(900);
      List<Future<?>> sent = new ArrayList<>(RECORDS);
      try (KafkaProducer<String, byte[]> producer = RegistryFixture.producer(kafka)) {
        for (int i = 0; i < PER_SESSION; i++) {
          for (String session : sessions) {
            sent.add(producer.send(RegistryFixture.deviceRecord(topic, "RAE-BURST", session, "update",
                "{\"ts\":" + (1000 + i) + ",\"attributes\":{\"n\":" + i + ",\"pad\":\"" + pad + "\"}}")));
          }
        }
        producer.flush();
      }
      for (Future<?> future : sent) {
        future.get(60, TimeUnit.SECONDS);
      }
      long published = System.nanoTime();

      long[] lagSeen = {Long.MAX_VALUE, 0}; // {last, peak}
      Eventually.await(Duration.ofMinutes(5), Duration.ofMillis(200), () -> {
        try {
          lagSeen[0] = lag(topic);
        } catch (Exception e) {
          throw new IllegalStateException("reading the group's lag: " + e.getMessage(), e);
        }
        lagSeen[1] = Math.max(lagSeen[1], lagSeen[0]);
        return lagSeen[0] == 0;
      }, () -> "the group's lag returns to zero (still " + lagSeen[0] + ")");
      long peakLag = lagSeen[1];
      long drained = System.nanoTime();
      sampler.shutdown();
      assertTrue(sampler.awaitTermination(10, TimeUnit.SECONDS), "the sampler stops");
      assertEquals(0, lagSeen[0], "the group's lag returns to zero");
      // The node's own lag figure follows the group's committed offsets: it saw the backlog (a
      // figure from the client's fetch position stayed near zero while the consumer was
      // back-pressured) and reads zero again once everything is committed.
      assertTrue(peakReportedLag.get() > 1_000,
          "the node reported the burst's backlog as lag (peak " + peakReportedLag.get() + ", Kafka's view " + peakLag + ")");
      await("the node's reported lag is back to zero", Duration.ofSeconds(30), () -> ingest.lag().sum() == 0);
      // Every session holds exactly its 10 updates, the last one winning. (The stream's "applied"
      // count can fall short of this after a restart: a session may persist a record whose ask
      // already timed out, and then ignores its redelivery.)
      for (String session : sessions) {
        DeviceSession.Active state = ((DeviceSession.SessionFound) RegistryFixture.get(system, session)).session();
        assertEquals(PER_SESSION, state.appliedMessages(), "each record applied exactly once: " + session);
        assertEquals(PER_SESSION - 1, state.attributes().get("n").value().asInt(), "last update wins: " + session);
      }
      assertEquals(RECORDS, committed(topic), "every offset committed");
      // On a loaded machine a session may not answer within ask-timeout; the consumer then restarts
      // from the committed offsets and the sessions ignore what they already applied.
      long redelivered = processed() - processedBefore - RECORDS;
      long restarts = Metrics.count(DeviceEventsIngest.METRIC_RESTARTS, Map.of()) - restartsBefore;
      assertTrue(restarts > 0 || redelivered == 0, "without a restart nothing is redelivered (" + redelivered + ")");
      long heapAfter = retainedHeapMiB();
      log.info("Burst: {} records, published in {} ms, lag zero after {} ms more; peak lag {} (AdminClient, sampled), {} (node's gauge),"
              + " peak held in memory {} records, heap retained {} -> {} MiB, peak used {} MiB,"
              + " consumer restarts {}, records redelivered and ignored {}",
          RECORDS, (published - start) / 1_000_000, (drained - published) / 1_000_000, peakLag, peakReportedLag.get(), peakHeld.get(),
          heapBefore, heapAfter, peakHeapMiB.get(), restarts, redelivered);

      // The measure below must be live: the current consumer's fetch count reaches the metrics.
      await("the consumer's fetch count reported", Duration.ofSeconds(30), () -> ingest.recordsFetched() > 0);
      // Back-pressure: per partition at most max-in-flight records wait on sessions, plus what the
      // Kafka consumer prefetched (one poll, max.poll.records = 500, per partition buffer). An
      // unbounded queue would hold most of the 30,000.
      long bound = 2L * PARTITIONS * (settings.maxInFlightPerPartition() + 500);
      assertTrue(peakHeld.get() <= bound,
          "records held in memory stay bounded: peak " + peakHeld.get() + " > " + bound);
      // What stays is the 3,000 sessions' state (~1 KB each, plus actors), not the burst.
      assertTrue(heapAfter - heapBefore < 128,
          "retained heap grew by " + (heapAfter - heapBefore) + " MiB over a 30 MB burst");
      ingest.stop().toCompletableFuture().get(30, TimeUnit.SECONDS);
    } finally {
      sampler.shutdownNow();
      RegistryFixture.stop(system);
    }
  }

  private static long processed() {
    return Metrics.count(DeviceEventsIngest.METRIC_PROCESSED, Map.of("result", "applied"))
        + Metrics.count(DeviceEventsIngest.METRIC_PROCESSED, Map.of("result", "ignored"));
  }

  /** The consumer group's lag as Kafka reports it: log-end offsets minus committed offsets. */
  private static long lag(String topic) throws Exception {
    try (Admin admin = admin()) {
      Map<TopicPartition, OffsetAndMetadata> committed = admin.listConsumerGroupOffsets(GROUP)
          .partitionsToOffsetAndMetadata().get(10, TimeUnit.SECONDS);
      List<TopicPartition> partitions = new ArrayList<>();
      for (int p = 0; p < PARTITIONS; p++) {
        partitions.add(new TopicPartition(topic, p));
      }
      var ends = admin.listOffsets(partitions.stream().collect(Collectors.toMap(tp -> tp, tp -> OffsetSpec.latest())))
          .all().get(10, TimeUnit.SECONDS);
      long lag = 0;
      for (TopicPartition tp : partitions) {
        OffsetAndMetadata offset = committed.get(tp);
        lag += ends.get(tp).offset() - (offset == null ? 0 : offset.offset());
      }
      return lag;
    }
  }

  /** Partitions assigned to the group's members (0 until the group is stable). */
  private static int assigned() {
    try (Admin admin = admin()) {
      var group = admin.describeConsumerGroups(List.of(GROUP)).all().get(10, TimeUnit.SECONDS).get(GROUP);
      return group.members().stream().mapToInt(m -> m.assignment().topicPartitions().size()).sum();
    } catch (Exception e) {
      return 0;
    }
  }

  private static long committed(String topic) throws Exception {
    try (Admin admin = admin()) {
      return admin.listConsumerGroupOffsets(GROUP).partitionsToOffsetAndMetadata().get(10, TimeUnit.SECONDS)
          .entrySet().stream().filter(e -> e.getKey().topic().equals(topic))
          .mapToLong(e -> e.getValue().offset()).sum();
    }
  }

  private static Admin admin() {
    Properties p = new Properties();
    p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
    return Admin.create(p);
  }

  private static long retainedHeapMiB() {
    System.gc();
    var heap = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage();
    return heap.getUsed() >> 20;
  }
}
