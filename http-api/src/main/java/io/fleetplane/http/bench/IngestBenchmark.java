package io.fleetplane.http.bench;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.fleetplane.config.FleetplaneConfig;
import io.fleetplane.config.KafkaHeaders;
import io.fleetplane.config.metrics.Metrics;
import io.fleetplane.http.FleetplaneNode;
import io.fleetplane.persistence.DatabaseMigrations;
import io.fleetplane.persistence.PersistenceSettings;
import io.fleetplane.registry.DeviceEventsIngest;
import io.fleetplane.testkit.infra.EmbeddedKafka;
import io.fleetplane.testkit.infra.PostgresEndpoint;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The ingestion benchmark (issue 4): a burst of device records published to Kafka while the
 * consumer runs, until every record is persisted. Fleetplane's registry (Alpakka Kafka ->
 * DeviceSession -> Akka Persistence JDBC) against the spring-kafka listener doing the same work,
 * and a raw JDBC batch insert loop of the same rows (the storage limit), on the same database.
 *
 * <p>Lag here is records published minus records persisted, sampled every 50 ms: exact, and what
 * the consumer-group lag converges to once offsets are committed.
 */
public final class IngestBenchmark {

  /** One measured run. */
  public record Run(String scenario, int records, double recordsPerSecond, long peakLag,
      double drainSeconds, long heapBeforeMiB, long heapAfterMiB) {}

  private final int sessions;
  private final int perSession;
  private final int payloadBytes;
  private final int partitions;
  private final boolean warmSessions;

  /**
   * @param warmSessions create every session (one record each, persisted) before the measured
   *     burst, so the burst measures per-event cost without the one-time cost of new sessions
   */
  public IngestBenchmark(int sessions, int perSession, int payloadBytes, int partitions, boolean warmSessions) {
    this.sessions = sessions;
    this.perSession = perSession;
    this.payloadBytes = payloadBytes;
    this.partitions = partitions;
    this.warmSessions = warmSessions;
  }

  public int records() {
    return sessions * perSession;
  }

  public Run fleetplane(EmbeddedKafka kafka, PostgresEndpoint db) throws Exception {
    String topic = newTopic(kafka, "fleetplane");
    Map<String, Object> config = new HashMap<>();
    config.put("fleetplane.persistence.jdbc-url", db.jdbcUrl());
    config.put("fleetplane.persistence.user", db.user());
    config.put("fleetplane.persistence.password", db.password());
    config.put("fleetplane.kafka.bootstrap-servers", kafka.bootstrapServers());
    config.put("fleetplane.kafka.topics.device-events", topic);
    config.put("fleetplane.kafka.topics.dead-letters", topic + ".dead");
    config.put("fleetplane.registry.consumer-group-id", "bench-" + topic);
    config.put("fleetplane.node.run-bridge", false);
    config.put("fleetplane.node.http.port", 0);
    BenchCredentials.configure(config);
    config.put("fleetplane.node.metrics.kamon-agent", false);
    config.put("akka.remote.artery.canonical.port", 0);
    config.put("akka.loglevel", "WARNING");
    FleetplaneNode node = FleetplaneNode.start(FleetplaneConfig.load(config));
    try {
      Thread.sleep(3_000); // partitions assigned before the burst, as in a running node
      long base = processedByRegistry();
      return burst("fleetplane registry (Alpakka -> DeviceSession -> JDBC journal)", kafka, topic,
          () -> processedByRegistry() - base);
    } finally {
      node.stop().toCompletableFuture().get(60, TimeUnit.SECONDS);
    }
  }

  public Run springBaseline(EmbeddedKafka kafka, PostgresEndpoint db) throws Exception {
    String topic = newTopic(kafka, "spring");
    try (HikariDataSource pool = pool(db, partitions + 2);
        SpringKafkaBaseline listener = new SpringKafkaBaseline(kafka.bootstrapServers(), topic, partitions, pool)) {
      Thread.sleep(3_000);
      long base = SpringKafkaBaseline.PROCESSED.get();
      return burst("spring-kafka @KafkaListener (baseline)", kafka, topic,
          () -> SpringKafkaBaseline.PROCESSED.get() - base);
    }
  }

  /** The storage limit: the same number of ~payload-sized rows, inserted in batches of 100. */
  public Run rawJdbc(PostgresEndpoint db) throws Exception {
    byte[] payload = payload(0, 0).getBytes(StandardCharsets.UTF_8);
    long heapBefore = usedHeapMiB();
    try (HikariDataSource pool = pool(db, 1); Connection c = pool.getConnection()) {
      c.createStatement().execute("CREATE TABLE IF NOT EXISTS bench_raw_event (id BIGSERIAL PRIMARY KEY,"
          + " session_id UUID NOT NULL, payload BYTEA NOT NULL)");
      c.setAutoCommit(false);
      long start = System.nanoTime();
      try (PreparedStatement insert = c.prepareStatement(
          "INSERT INTO bench_raw_event (session_id, payload) VALUES (?::uuid, ?)")) {
        String session = UUID.randomUUID().toString();
        for (int i = 1; i <= records(); i++) {
          insert.setString(1, session);
          insert.setBytes(2, payload);
          insert.addBatch();
          if (i % 100 == 0) {
            insert.executeBatch();
            c.commit();
          }
        }
        insert.executeBatch();
        c.commit();
      }
      double seconds = (System.nanoTime() - start) / 1e9;
      return new Run("raw JDBC batch insert, 100 rows/commit (storage limit)", records(), records() / seconds,
          0, 0, heapBefore, usedHeapMiB());
    }
  }

  private Run burst(String name, EmbeddedKafka kafka, String topic, LongSupplier persisted) throws Exception {
    List<String> sessionIds = new ArrayList<>();
    for (int s = 0; s < sessions; s++) {
      sessionIds.add(UUID.randomUUID().toString());
    }
    if (warmSessions) {
      long base = persisted.getAsLong();
      try (KafkaProducer<String, byte[]> producer = producer(kafka)) {
        for (String session : sessionIds) {
          producer.send(record(topic, session, -1));
        }
      }
      long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(5);
      while (persisted.getAsLong() - base < sessions && System.nanoTime() < deadline) {
        Thread.sleep(50);
      }
      LongSupplier measured = persisted;
      long offset = persisted.getAsLong();
      persisted = () -> measured.getAsLong() - offset;
    }
    long heapBefore = usedHeapMiB();
    long start = System.nanoTime();
    long published = 0;
    long peakLag = 0;
    try (KafkaProducer<String, byte[]> producer = producer(kafka)) {
      for (int i = 0; i < perSession; i++) {
        for (String session : sessionIds) {
          producer.send(record(topic, session, i));
          published++;
          if (published % 1000 == 0) {
            peakLag = Math.max(peakLag, published - persisted.getAsLong());
          }
        }
      }
      producer.flush();
    }
    long burstEnd = System.nanoTime();
    long deadline = burstEnd + TimeUnit.MINUTES.toNanos(5);
    long done;
    while ((done = persisted.getAsLong()) < records() && System.nanoTime() < deadline) {
      peakLag = Math.max(peakLag, records() - done);
      Thread.sleep(50);
    }
    long end = System.nanoTime();
    if (done < records()) {
      throw new IllegalStateException(name + ": only " + done + " of " + records() + " persisted within 5 minutes");
    }
    return new Run(warmSessions ? name + ", sessions existing" : name, records(),
        records() / ((end - start) / 1e9), peakLag, (end - burstEnd) / 1e9,
        heapBefore, usedHeapMiB());
  }

  private static long processedByRegistry() {
    return Metrics.count(DeviceEventsIngest.METRIC_PROCESSED, Map.of("result", "applied"))
        + Metrics.count(DeviceEventsIngest.METRIC_PROCESSED, Map.of("result", "ignored"));
  }

  private String newTopic(EmbeddedKafka kafka, String who) {
    String topic = "bench-ingest-" + who + "-" + UUID.randomUUID().toString().substring(0, 8);
    kafka.createTopics(partitions, topic, topic + ".dead");
    return topic;
  }

  private ProducerRecord<String, byte[]> record(String topic, String session, int i) {
    String key = "fleet/rae/BENCH/device/" + session;
    List<Header> headers = List.of(
        new RecordHeader(KafkaHeaders.MQTT_TOPIC, (key + "/update").getBytes(StandardCharsets.UTF_8)),
        new RecordHeader(KafkaHeaders.RECEIVED_AT,
            Long.toString(System.currentTimeMillis()).getBytes(StandardCharsets.UTF_8)));
    return new ProducerRecord<>(topic, null, key, payload(i, i).getBytes(StandardCharsets.UTF_8), headers);
  }

  private String payload(long ts, int n) {
    String head = "{\"ts\":" + (1001 + ts) + ",\"attributes\":{\"n\":" + n + ",\"firmware\":\"1.2.3\",\"pad\":\"";
    return head + "x".repeat(Math.max(0, payloadBytes - head.length() - 3)) + "\"}}";
  }

  private static KafkaProducer<String, byte[]> producer(EmbeddedKafka kafka) {
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    p.put(ProducerConfig.LINGER_MS_CONFIG, "5");
    // A burst: large batches and several requests in flight (the idempotent producer keeps each
    // partition in order). With 16 KiB batches and one request at a time, publishing 30,000 1 KB
    // records took ~6 s and capped every scenario near 5,000 records/s whatever the consumer did.
    p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
    p.put(ProducerConfig.BATCH_SIZE_CONFIG, Integer.toString(256 * 1024));
    p.put(ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, "5");
    return new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer());
  }

  static HikariDataSource pool(PostgresEndpoint db, int size) {
    HikariConfig config = new HikariConfig();
    config.setJdbcUrl(db.jdbcUrl());
    config.setUsername(db.user());
    config.setPassword(db.password());
    config.setMaximumPoolSize(size);
    return new HikariDataSource(config);
  }

  static void migrate(PostgresEndpoint db) {
    DatabaseMigrations.migrate(new PersistenceSettings(db.jdbcUrl(), db.user(), db.password(), 4, true,
        Duration.ofSeconds(10)));
  }

  static long usedHeapMiB() {
    System.gc();
    Runtime rt = Runtime.getRuntime();
    return (rt.totalMemory() - rt.freeMemory()) / (1024 * 1024);
  }

  /** The markdown table: medians per scenario, throughput spread, ratios to the baseline. */
  public static String markdown(List<Run> runs, String command, String notes) {
    Map<String, List<Run>> byScenario = new java.util.LinkedHashMap<>();
    runs.forEach(run -> byScenario.computeIfAbsent(run.scenario(), k -> new ArrayList<>()).add(run));
    // With --warm-sessions every scenario name carries a suffix; the baseline is the one named so.
    String baseline = byScenario.keySet().stream()
        .filter(name -> name.startsWith("spring-kafka @KafkaListener (baseline)"))
        .findFirst().orElse("spring-kafka @KafkaListener (baseline)");
    double baselineRate = BenchmarkReport.median(byScenario.getOrDefault(baseline, List.of()), Run::recordsPerSecond);
    StringBuilder md = new StringBuilder(BenchmarkReport.header("Ingestion: Kafka -> persisted session state",
        command, notes));
    md.append("| scenario | runs | records | records/s (median) | min-max | peak lag | drain s | heap MiB before/after |"
        + " ratio to baseline |\n|---|---|---|---|---|---|---|---|---|\n");
    byScenario.forEach((scenario, list) -> {
      double rate = BenchmarkReport.median(list, Run::recordsPerSecond);
      md.append(String.format(java.util.Locale.ROOT, "| %s | %d | %,d | %,.0f | %,.0f-%,.0f | %,.0f | %.1f | %.0f / %.0f | %s |%n",
          scenario, list.size(), list.get(0).records(), rate,
          list.stream().mapToDouble(Run::recordsPerSecond).min().orElse(0),
          list.stream().mapToDouble(Run::recordsPerSecond).max().orElse(0),
          BenchmarkReport.median(list, r -> r.peakLag()), BenchmarkReport.median(list, Run::drainSeconds),
          BenchmarkReport.median(list, r -> r.heapBeforeMiB()), BenchmarkReport.median(list, r -> r.heapAfterMiB()),
          scenario.equals(baseline) ? "-" : String.format(java.util.Locale.ROOT, "%.2f", rate / baselineRate)));
    });
    return md.toString();
  }
}
