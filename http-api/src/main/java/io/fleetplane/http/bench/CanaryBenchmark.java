package io.fleetplane.http.bench;

import com.typesafe.config.ConfigFactory;
import io.fleetplane.config.FleetplaneConfig;
import io.fleetplane.config.KafkaSettings;
import io.fleetplane.http.FleetplaneNode;
import io.fleetplane.testkit.canary.Canary;
import io.fleetplane.testkit.canary.CanaryResult;
import io.fleetplane.testkit.canary.CanarySettings;
import io.fleetplane.testkit.infra.EmbeddedKafka;
import io.fleetplane.testkit.infra.MosquittoBroker;
import io.fleetplane.testkit.infra.PostgresEndpoint;
import io.fleetplane.testkit.infra.TestPostgres;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.ToDoubleFunction;

/**
 * The burst scenario (issue 6): the canary's flash burst of {@code clients} MQTT clients against a
 * whole node (Mosquitto -> bridge -> Kafka -> registry -> PostgreSQL -> HTTP) in this JVM: peak
 * registry lag, seconds back to zero, publish -> visible latency and heap before/after. Baseline:
 * the spring-kafka {@code @KafkaListener} consumer draining a burst of the same size and shape
 * (from {@link IngestBenchmark}), in the same invocation.
 */
public final class CanaryBenchmark {

  /** One measured run of either side. */
  public record Run(String scenario, int records, long peakLag, double secondsToZero, double p50Millis,
      double p99Millis, long heapBeforeMiB, long heapAfterMiB, boolean passed) {}

  private final int clients;
  private final int messagesPerClient;
  private final int payloadBytes;

  public CanaryBenchmark(int clients, int messagesPerClient, int payloadBytes) {
    this.clients = clients;
    this.messagesPerClient = messagesPerClient;
    this.payloadBytes = payloadBytes;
  }

  /** Runs {@code warmup} unrecorded and {@code runs} recorded rounds of both sides; the markdown. */
  public String run(int runs, int warmup, String command) throws Exception {
    List<Run> results = new ArrayList<>();
    PostgresEndpoint db = TestPostgres.newSchema();
    try (MosquittoBroker broker = BridgeBenchmark.startBroker(); EmbeddedKafka kafka = BridgeBenchmark.startKafka()) {
      FleetplaneNode node = startNode(db, kafka, broker, Map.of());
      try {
        CanarySettings settings = CanarySettings.fromConfig(ConfigFactory.parseMap(Map.of(
            "fleetplane.canary.clients", clients,
            "fleetplane.canary.messages-per-client", messagesPerClient,
            "fleetplane.canary.payload-bytes", payloadBytes,
            "fleetplane.canary.mqtt-uri", broker.serverUri(),
            "fleetplane.canary.http-url", "http://127.0.0.1:" + node.httpPort(),
            "fleetplane.canary.sample-interval", "500 ms",
            "fleetplane.canary.token", BenchCredentials.readToken())).withFallback(ConfigFactory.load()));
        IngestBenchmark spring = new IngestBenchmark(clients, settings.messagesPerSession(), payloadBytes, 4, false);
        for (int run = 1 - warmup; run <= runs; run++) {
          System.out.printf("canary burst: %s (%,d clients x %d messages)%n",
              run < 1 ? "warm-up run (not recorded)" : "run " + run + "/" + runs, clients, settings.messagesPerSession());
          long before = heapMiB();
          CanaryResult result = Canary.run(node.system(), settings, p -> System.out.println("    " + p.line()))
              .toCompletableFuture().join();
          Run canary = new Run("fleetplane canary burst", (int) result.messages().acknowledged(),
              result.lag().peak() == null ? -1 : result.lag().peak(),
              result.lag().secondsBackToZero() == null ? Double.NaN : result.lag().secondsBackToZero(),
              nan(result.latency().p50Millis()), nan(result.latency().p99Millis()), before, heapMiB(), result.passed());
          IngestBenchmark.Run baseline = spring.springBaseline(kafka, db);
          Run drained = new Run(baseline.scenario(), baseline.records(), baseline.peakLag(), baseline.drainSeconds(),
              Double.NaN, Double.NaN, baseline.heapBeforeMiB(), baseline.heapAfterMiB(), true);
          for (Run r : List.of(canary, drained)) {
            System.out.printf(Locale.ROOT, "  %-44s peak lag %,7d  back to zero %5.1f s  p99 %7.0f ms  %s%n",
                r.scenario(), r.peakLag(), r.secondsToZero(), r.p99Millis(), r.passed() ? "" : "FAILED");
            if (run >= 1) {
              results.add(r);
            }
          }
          if (!result.passed()) {
            System.out.print(result.table());
          }
        }
      } finally {
        node.stop().toCompletableFuture().join();
      }
    } finally {
      TestPostgres.dropSchema(db);
    }
    return markdown(results, command);
  }

  /** A whole node on these parts, in this JVM, with the topics it expects; {@code overrides} win. */
  static FleetplaneNode startNode(PostgresEndpoint db, EmbeddedKafka kafka, MosquittoBroker broker,
      Map<String, Object> overrides) {
    KafkaSettings topics = KafkaSettings.fromConfig(FleetplaneConfig.load());
    kafka.createTopics(4, topics.deviceEventsTopic());
    kafka.createTopics(1, topics.deadLettersTopic());
    var commands = io.fleetplane.bridge.command.CommandBridgeSettings.fromConfig(FleetplaneConfig.load());
    kafka.createTopics(1, commands.commandsTopic(), commands.repliesTopic());
    Map<String, Object> config = nodeConfig(db, kafka, broker);
    config.putAll(overrides);
    return FleetplaneNode.start(FleetplaneConfig.load(config));
  }

  private static Map<String, Object> nodeConfig(PostgresEndpoint db, EmbeddedKafka kafka, MosquittoBroker broker) {
    Map<String, Object> c = new HashMap<>();
    c.put("fleetplane.persistence.jdbc-url", db.jdbcUrl());
    c.put("fleetplane.persistence.user", db.user());
    c.put("fleetplane.persistence.password", db.password());
    c.put("fleetplane.kafka.bootstrap-servers", kafka.bootstrapServers());
    c.put("fleetplane.bridge.mqtt.server-uri", broker.serverUri());
    c.put("fleetplane.node.http.port", 0);
    BenchCredentials.configure(c);
    c.put("fleetplane.node.metrics.kamon-agent", false);
    c.put("akka.remote.artery.canonical.port", 0);
    // The canary reads lag from /metrics: a reading per second instead of the default five.
    c.put("kamon.metric.tick-interval", "1 second");
    return c;
  }

  String markdown(List<Run> runs, String command) {
    Map<String, List<Run>> byScenario = new java.util.LinkedHashMap<>();
    runs.forEach(r -> byScenario.computeIfAbsent(r.scenario(), k -> new ArrayList<>()).add(r));
    StringBuilder md = new StringBuilder(BenchmarkReport.header("Burst: " + clients + "-client canary vs spring-kafka drain",
        command, "Mosquitto 2.0 (per-run process), Kafka 3.9.2 in-process (4 partitions), PostgreSQL on 127.0.0.1, the node, "
            + "its bridge and the canary's " + clients + " Paho clients in one JVM; " + messagesPerClient + " messages of ~"
            + payloadBytes + " B per client plus two connection events. Canary lag is the registry's consumer lag read "
            + "from /metrics (1 s Kamon tick), 'back to zero' from the peak reading; the baseline's lag is published - "
            + "persisted for the same number of records, drain from the start of its burst."))
        .append("| scenario | runs | records | peak lag (median) | s back to zero (median) | min-max | p50 ms | p99 ms | heap MiB before -> after | verdicts |\n")
        .append("|---|---|---|---|---|---|---|---|---|---|\n");
    byScenario.forEach((scenario, list) -> md.append(String.format(Locale.ROOT,
        "| %s | %d | %,d | %,.0f | %.1f | %.1f-%.1f | %s | %s | %.0f -> %.0f | %s |%n", scenario, list.size(),
        list.get(0).records(), BenchmarkReport.median(list, Run::peakLag), BenchmarkReport.median(list, Run::secondsToZero),
        min(list, Run::secondsToZero), max(list, Run::secondsToZero), fmt(BenchmarkReport.median(list, Run::p50Millis)),
        fmt(BenchmarkReport.median(list, Run::p99Millis)), BenchmarkReport.median(list, Run::heapBeforeMiB),
        BenchmarkReport.median(list, Run::heapAfterMiB),
        list.stream().filter(Run::passed).count() + "/" + list.size() + " pass")));
    List<Run> canary = byScenario.getOrDefault("fleetplane canary burst", List.of());
    List<Run> spring = byScenario.values().stream().filter(l -> !l.isEmpty() && !l.get(0).scenario().startsWith("fleetplane"))
        .findFirst().orElse(List.of());
    if (!canary.isEmpty() && BenchmarkReport.median(canary, Run::peakLag) <= 0) {
      md.append("\nNo ratio: the canary's lag never read above zero at the 1 s metrics resolution (burst drained between readings).\n");
    } else if (!canary.isEmpty() && !spring.isEmpty()) {
      md.append(String.format(Locale.ROOT, "%nRatio of seconds back to zero, canary / spring-kafka baseline: %.2f%n",
          BenchmarkReport.median(canary, Run::secondsToZero) / BenchmarkReport.median(spring, Run::secondsToZero)));
    }
    return md.toString();
  }

  private static double min(List<Run> list, ToDoubleFunction<Run> f) {
    return list.stream().mapToDouble(f).min().orElse(Double.NaN);
  }

  private static double max(List<Run> list, ToDoubleFunction<Run> f) {
    return list.stream().mapToDouble(f).max().orElse(Double.NaN);
  }

  private static String fmt(double v) {
    return Double.isNaN(v) ? "-" : String.format(Locale.ROOT, "%.0f", v);
  }

  private static double nan(Double v) {
    return v == null ? Double.NaN : v;
  }

  private static long heapMiB() {
    System.gc();
    Runtime rt = Runtime.getRuntime();
    return (rt.totalMemory() - rt.freeMemory()) / (1024 * 1024);
  }
}
