package io.fleetplane.http.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fleetplane.http.FleetplaneNode;
import io.fleetplane.testkit.infra.EmbeddedKafka;
import io.fleetplane.testkit.infra.MosquittoBroker;
import io.fleetplane.testkit.infra.PostgresEndpoint;
import io.fleetplane.testkit.infra.TestPostgres;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.LockSupport;
import org.eclipse.paho.mqttv5.client.MqttAsyncClient;
import org.eclipse.paho.mqttv5.client.MqttConnectionOptions;
import org.eclipse.paho.mqttv5.client.persist.MemoryPersistence;

/**
 * End to end at a steady rate (issue 6, scenario 4): MQTT publish -> bridge -> Kafka -> registry ->
 * PostgreSQL -> visible over {@code GET /api/v1/devices/{id}}, with a whole node in this JVM. A
 * steady open-loop load of {@code rate} msg/s goes to many sessions; a few probe sessions each
 * publish ten times a second and poll their device over HTTP (every 2 ms) until the new value
 * shows; that wait is the latency. Baseline in the same run: the same load and probes against
 * Mosquitto alone (publish -> a subscriber receives it), the transport's own floor.
 */
public final class EndToEndBenchmark {

  /** One measured run. */
  public record Run(String scenario, int samples, int notVisible, double p50Millis, double p99Millis, double maxMillis,
      double loadRate) {}

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final int PROBES = 4;
  /** The floor publishes outside fleet/rae/..., so the node's bridge (same broker) does not ingest it. */
  private static final String FLOOR_TOPIC_ROOT = "bench-floor/rae/";
  private static final int PROBES_PER_SECOND = 10;
  private static final int LOAD_SESSIONS = 300;
  /** Probe messages carry seq >= this (increasing per probe session); load messages stay below. */
  private static final long PROBE_SEQUENCE_BASE = 1_000_000_000L;
  /** A probe value not visible this long after its publish counts as not visible (and the probe moves on). */
  private static final long VISIBILITY_LIMIT_SECONDS = 5;

  private final int rate;
  private final int seconds;
  private final int payloadBytes;

  public EndToEndBenchmark(int rate, int seconds, int payloadBytes) {
    this.rate = rate;
    this.seconds = seconds;
    this.payloadBytes = payloadBytes;
  }

  public String run(int runs, int warmup, String command) throws Exception {
    List<Run> results = new ArrayList<>();
    PostgresEndpoint db = TestPostgres.newSchema();
    try (MosquittoBroker broker = BridgeBenchmark.startBroker(); EmbeddedKafka kafka = BridgeBenchmark.startKafka()) {
      FleetplaneNode node = CanaryBenchmark.startNode(db, kafka, broker, Map.of());
      try {
        for (int run = 1 - warmup; run <= runs; run++) {
          System.out.printf("end to end: %s (%d msg/s for %d s)%n", run < 1 ? "warm-up run (not recorded)"
              : "run " + run + "/" + runs, rate, seconds);
          for (Run r : List.of(mosquittoFloor(broker), node(broker, node.httpPort()))) {
            System.out.printf(Locale.ROOT, "  %-48s load %,5.0f msg/s  p50 %6.1f ms  p99 %6.1f ms  max %6.1f ms  (%d samples, %d not visible within %d s)%n",
                r.scenario(), r.loadRate(), r.p50Millis(), r.p99Millis(), r.maxMillis(), r.samples(), r.notVisible(),
                VISIBILITY_LIMIT_SECONDS);
            if (run >= 1) {
              results.add(r);
            }
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

  /** Probes waiting for their value over HTTP while the load runs. */
  private Run node(MosquittoBroker broker, int httpPort) throws Exception {
    String rae = "BENCH-E2E";
    HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    String token = BenchCredentials.readToken();
    return measure("fleetplane: publish -> visible over HTTP", broker, "fleet/rae/" + rae, (probeTopic, session, sentNanos) -> {
      HttpRequest get = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + httpPort + "/api/v1/devices/" + session))
          .header("Authorization", "Bearer " + token).GET().build();
      String wanted = Long.toString(sentNanos);
      long deadline = sentNanos + TimeUnit.SECONDS.toNanos(VISIBILITY_LIMIT_SECONDS);
      while (System.nanoTime() < deadline) {
        HttpResponse<String> response = http.send(get, HttpResponse.BodyHandlers.ofString());
        if (response.statusCode() == 200) {
          JsonNode sent = JSON.readTree(response.body()).path("attributes").path("sent");
          if (wanted.equals(sent.asText())) {
            return System.nanoTime() - sentNanos;
          }
        }
        LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(2));
      }
      return -1;
    });
  }

  /** The same probes, waiting for a plain MQTT subscriber to receive their message. */
  private Run mosquittoFloor(MosquittoBroker broker) throws Exception {
    String rae = "BENCH-FLOOR";
    Map<Long, CompletableFuture<Long>> waiting = new ConcurrentHashMap<>();
    MqttAsyncClient subscriber = new MqttAsyncClient(broker.serverUri(), "e2e-floor-" + System.nanoTime(),
        new MemoryPersistence());
    subscriber.setCallback(new BridgeBenchmark.Arrivals(payload -> {
      if (Publishers.sequence(payload) >= PROBE_SEQUENCE_BASE) {
        long sent = Publishers.sentNanos(payload);
        // Whoever comes first (this arrival or the probe starting to wait) creates the future.
        waiting.computeIfAbsent(sent, k -> new CompletableFuture<>()).complete(System.nanoTime() - sent);
      }
    }));
    MqttConnectionOptions options = new MqttConnectionOptions();
    options.setCleanStart(true);
    options.setReceiveMaximum(1000);
    subscriber.connect(options).waitForCompletion(10_000);
    subscriber.subscribe(FLOOR_TOPIC_ROOT + rae + "/#", 1).waitForCompletion(10_000);
    try {
      return measure("mosquitto alone: publish -> subscriber (floor)", broker, FLOOR_TOPIC_ROOT + rae, (probeTopic, session, sentNanos) -> {
        CompletableFuture<Long> arrival = waiting.computeIfAbsent(sentNanos, k -> new CompletableFuture<>());
        try {
          return arrival.get(Math.max(0, sentNanos + TimeUnit.SECONDS.toNanos(VISIBILITY_LIMIT_SECONDS) - System.nanoTime()),
              TimeUnit.NANOSECONDS);
        } catch (java.util.concurrent.TimeoutException e) {
          return -1;
        } finally {
          waiting.remove(sentNanos);
        }
      });
    } finally {
      subscriber.disconnect().waitForCompletion(5_000);
      subscriber.close();
    }
  }

  /** How a probe learns that its message arrived: nanoseconds from send, or -1. */
  private interface Arrival {
    long await(String topic, String session, long sentNanos) throws Exception;
  }

  private Run measure(String scenario, MosquittoBroker broker, String raeTopic, Arrival arrival) throws Exception {
    Latencies latencies = new Latencies(PROBES * PROBES_PER_SECOND * seconds);
    AtomicBoolean running = new AtomicBoolean(true);
    int loadRate = Math.max(0, rate - PROBES * PROBES_PER_SECOND);
    long[] loadSent = new long[1];
    java.util.concurrent.atomic.AtomicInteger notVisible = new java.util.concurrent.atomic.AtomicInteger();
    try (Publishers load = new Publishers(broker.serverUri(), 4, 100, payloadBytes);
        Publishers probes = new Publishers(broker.serverUri(), PROBES, 1, payloadBytes)) {
      String[] loadTopics = new String[LOAD_SESSIONS];
      for (int s = 0; s < LOAD_SESSIONS; s++) {
        loadTopics[s] = raeTopic + "/device/" + UUID.randomUUID() + "/update";
      }
      Thread loader = new Thread(() -> {
        long start = System.nanoTime();
        long interval = TimeUnit.SECONDS.toNanos(1) / Math.max(1, loadRate);
        for (long i = 0; running.get() && loadRate > 0; i++) {
          Publishers.paceUntil(start + i * interval);
          try {
            load.publish(loadTopics[(int) (i % LOAD_SESSIONS)], (int) (i % LOAD_SESSIONS), i);
            loadSent[0] = i + 1;
          } catch (Exception e) {
            throw new IllegalStateException("load publisher failed", e);
          }
        }
      }, "e2e-load");
      loader.start();
      long began = System.nanoTime();
      List<Thread> probeThreads = new ArrayList<>();
      for (int p = 0; p < PROBES; p++) {
        int index = p;
        String session = UUID.randomUUID().toString();
        String topic = raeTopic + "/device/" + session + "/update";
        Thread t = new Thread(() -> {
          long start = System.nanoTime();
          long interval = TimeUnit.SECONDS.toNanos(1) / PROBES_PER_SECOND;
          long end = start + TimeUnit.SECONDS.toNanos(seconds);
          // A slow arrival delays the next probe message: the schedule is skipped ahead, never queued up.
          for (long i = 0; System.nanoTime() < end; i = Math.max(i + 1, (System.nanoTime() - start) / interval)) {
            Publishers.paceUntil(start + i * interval);
            try {
              long sent = probes.publishReturningSent(topic, index, PROBE_SEQUENCE_BASE + i);
              long nanos = arrival.await(topic, session, sent);
              if (nanos >= 0) {
                latencies.add(nanos);
              } else {
                notVisible.incrementAndGet();
              }
            } catch (Exception e) {
              throw new IllegalStateException("probe failed", e);
            }
          }
        }, "e2e-probe-" + p);
        t.start();
        probeThreads.add(t);
      }
      for (Thread t : probeThreads) {
        t.join();
      }
      running.set(false);
      loader.join();
      double elapsed = (System.nanoTime() - began) / 1e9;
      return new Run(scenario, latencies.size(), notVisible.get(), latencies.percentileMillis(0.50), latencies.percentileMillis(0.99),
          latencies.percentileMillis(1.0), (loadSent[0] + latencies.size()) / elapsed);
    }
  }

  private String markdown(List<Run> runs, String command) {
    Map<String, List<Run>> byScenario = new java.util.LinkedHashMap<>();
    runs.forEach(r -> byScenario.computeIfAbsent(r.scenario(), k -> new ArrayList<>()).add(r));
    StringBuilder md = new StringBuilder(BenchmarkReport.header("End to end: publish -> visible over HTTP at " + rate
        + " msg/s", command, "Mosquitto 2.0 (per-run process), Kafka 3.9.2 in-process (4 partitions), PostgreSQL on "
        + "127.0.0.1 and the whole node in one JVM; a steady load over " + LOAD_SESSIONS + " sessions of " + payloadBytes
        + "-byte QoS 1 updates plus " + PROBES + " probe sessions publishing " + PROBES_PER_SECOND + "/s each, for "
        + seconds + " s per run; a probe's latency is its publish -> the new value in GET /api/v1/devices/{id} "
        + "(polled every 2 ms). Floor: the same load and probes through Mosquitto alone to a subscriber."))
        .append("| scenario | runs | samples | not visible in " + VISIBILITY_LIMIT_SECONDS + " s | load msg/s | p50 ms (median) | p99 ms (median) | p99 min-max | max ms |\n")
        .append("|---|---|---|---|---|---|---|---|---|\n");
    byScenario.forEach((scenario, list) -> md.append(String.format(Locale.ROOT,
        "| %s | %d | %,d | %,d | %,.0f | %.1f | %.1f | %.1f-%.1f | %.1f |%n", scenario, list.size(),
        list.stream().mapToInt(Run::samples).sum(), list.stream().mapToInt(Run::notVisible).sum(), BenchmarkReport.median(list, Run::loadRate),
        BenchmarkReport.median(list, Run::p50Millis), BenchmarkReport.median(list, Run::p99Millis),
        list.stream().mapToDouble(Run::p99Millis).min().orElse(Double.NaN),
        list.stream().mapToDouble(Run::p99Millis).max().orElse(Double.NaN),
        BenchmarkReport.median(list, Run::maxMillis))));
    List<List<Run>> lists = new ArrayList<>(byScenario.values());
    if (lists.size() == 2) {
      md.append(String.format(Locale.ROOT, "%nWhat the platform adds over the transport, p99: %.1f ms (floor %.1f ms)%n",
          BenchmarkReport.median(lists.get(1), Run::p99Millis) - BenchmarkReport.median(lists.get(0), Run::p99Millis),
          BenchmarkReport.median(lists.get(0), Run::p99Millis)));
    }
    return md.toString();
  }
}
