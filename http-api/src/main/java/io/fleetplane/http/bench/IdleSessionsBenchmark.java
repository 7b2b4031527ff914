package io.fleetplane.http.bench;

import akka.actor.typed.ActorSystem;
import akka.cluster.sharding.typed.javadsl.ClusterSharding;
import akka.stream.javadsl.Sink;
import akka.stream.javadsl.Source;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.TextNode;
import io.fleetplane.config.ids.DeviceTopic.Channel;
import io.fleetplane.http.FleetplaneNode;
import io.fleetplane.registry.DeviceSession;
import io.fleetplane.registry.domain.DeviceMessage;
import io.fleetplane.registry.domain.Lineage;
import io.fleetplane.testkit.infra.EmbeddedKafka;
import io.fleetplane.testkit.infra.MosquittoBroker;
import io.fleetplane.testkit.infra.PostgresEndpoint;
import io.fleetplane.testkit.infra.TestPostgres;
import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;

/**
 * Memory per idle persistent session (issue 6, scenario 5): {@code sessions} DeviceSession
 * entities, each created by one applied update (journaled in PostgreSQL) and then left idle in
 * their shard, measured as retained heap after a full GC, divided by the number of sessions.
 * Baseline in the same run: the same sessions' states alone in a {@code HashMap} (what the data
 * costs without an actor, a mailbox, sharding and the persistence machinery around it).
 */
public final class IdleSessionsBenchmark {

  /** One measured run. */
  public record Run(String scenario, int sessions, double seconds, double bytesPerSession, long heapAfterMiB) {}

  private static final String RAE = "BENCH-IDLE";
  private final int sessions;

  public IdleSessionsBenchmark(int sessions) {
    this.sessions = sessions;
  }

  public String run(int runs, String command) throws Exception {
    List<Run> results = new ArrayList<>();
    PostgresEndpoint db = TestPostgres.newSchema();
    try (MosquittoBroker broker = BridgeBenchmark.startBroker(); EmbeddedKafka kafka = BridgeBenchmark.startKafka()) {
      // Idle means idle: the sessions must stay in memory for the measurement, not be passivated.
      FleetplaneNode node = CanaryBenchmark.startNode(db, kafka, broker, Map.of(
          "akka.cluster.sharding.passivation.default-idle-strategy.idle-entity.timeout", "1 hour"));
      try {
        for (int run = 1; run <= runs; run++) {
          System.out.printf("idle sessions: run %d/%d (%,d sessions)%n", run, runs, sessions);
          results.add(actors(node.system(), "run" + run));
          results.add(plainMap());
          Run a = results.get(results.size() - 2);
          Run m = results.get(results.size() - 1);
          System.out.printf(Locale.ROOT, "  %-44s %,8.0f bytes/session  (%,.1f s to create)%n", a.scenario(),
              a.bytesPerSession(), a.seconds());
          System.out.printf(Locale.ROOT, "  %-44s %,8.0f bytes/session%n", m.scenario(), m.bytesPerSession());
        }
      } finally {
        node.stop().toCompletableFuture().join();
      }
    } finally {
      TestPostgres.dropSchema(db);
    }
    return markdown(results, command);
  }

  private Run actors(ActorSystem<?> system, String prefix) {
    ClusterSharding sharding = ClusterSharding.get(system);
    long before = retainedHeap();
    long start = System.nanoTime();
    Duration timeout = Duration.ofSeconds(60);
    Source.range(1, sessions)
        .mapAsyncUnordered(64, i -> {
          String id = UUID.nameUUIDFromBytes((prefix + i).getBytes()).toString();
          return sharding.entityRefFor(DeviceSession.ENTITY_TYPE_KEY, id).<DeviceSession.ApplyReply>ask(
              replyTo -> new DeviceSession.ApplyMessage(RAE, message(i), lineage(id, i), replyTo), timeout);
        })
        .runWith(Sink.foreach(reply -> {
          if (!(reply instanceof DeviceSession.Applied)) {
            throw new IllegalStateException("session not created: " + reply);
          }
        }), system)
        .toCompletableFuture().join();
    double seconds = (System.nanoTime() - start) / 1e9;
    long after = retainedHeap();
    return new Run("fleetplane DeviceSession entities (idle, in shard)", sessions, seconds,
        (after - before) / (double) sessions, after / (1024 * 1024));
  }

  private Run plainMap() {
    long before = retainedHeap();
    Map<String, DeviceSession.Active> states = new HashMap<>();
    for (int i = 1; i <= sessions; i++) {
      String id = UUID.nameUUIDFromBytes(("map" + i).getBytes()).toString();
      states.put(id, DeviceSession.apply(new DeviceSession.Unknown(),
          new DeviceSession.MessageApplied(RAE, message(i), lineage(id, i), Instant.now())));
    }
    long after = retainedHeap();
    Run run = new Run("baseline: the same states in a HashMap", sessions, 0, (after - before) / (double) sessions,
        after / (1024 * 1024));
    if (states.size() != sessions) {
      throw new IllegalStateException("map lost entries");
    }
    return run;
  }

  private static DeviceMessage message(int i) {
    Map<String, JsonNode> attributes = Map.of(
        "esn", TextNode.valueOf("ESN-" + i),
        "mac", TextNode.valueOf(String.format(Locale.ROOT, "02:00:00:%02x:%02x:%02x", (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff)),
        "fw", TextNode.valueOf("2.1.0"));
    return new DeviceMessage(Channel.UPDATE, 1_000L + i, Optional.empty(), attributes, Optional.of("available"),
        Optional.empty());
  }

  private static Lineage lineage(String id, int i) {
    return new Lineage("fleet/rae/" + RAE + "/device/" + id + "/update", 0, i, System.currentTimeMillis());
  }

  /** Used heap after full collections (several, until it stops shrinking). */
  private static long retainedHeap() {
    var memory = ManagementFactory.getMemoryMXBean();
    long last = Long.MAX_VALUE;
    for (int i = 0; i < 5; i++) {
      System.gc();
      long used = memory.getHeapMemoryUsage().getUsed();
      if (used >= last - (1 << 20)) {
        return Math.min(used, last);
      }
      last = used;
    }
    return last;
  }

  private String markdown(List<Run> runs, String command) {
    Map<String, List<Run>> byScenario = new java.util.LinkedHashMap<>();
    runs.forEach(r -> byScenario.computeIfAbsent(r.scenario(), k -> new ArrayList<>()).add(r));
    StringBuilder md = new StringBuilder(BenchmarkReport.header("Memory per idle session: " + sessions + " sessions",
        command, "A whole node in this JVM (sharding, PostgreSQL journal on 127.0.0.1); each session created by one "
            + "3-attribute update through its entity, then idle (passivation off for the measurement); retained heap "
            + "after full GCs, before and after, divided by the sessions. Baseline: the same session states in a HashMap."))
        .append("| scenario | runs | sessions | bytes/session (median) | min-max | s to create (median) | heap after MiB |\n")
        .append("|---|---|---|---|---|---|---|\n");
    byScenario.forEach((scenario, list) -> md.append(String.format(Locale.ROOT, "| %s | %d | %,d | %,.0f | %,.0f-%,.0f | %s | %.0f |%n",
        scenario, list.size(), sessions, BenchmarkReport.median(list, Run::bytesPerSession),
        list.stream().mapToDouble(Run::bytesPerSession).min().orElse(0),
        list.stream().mapToDouble(Run::bytesPerSession).max().orElse(0),
        scenario.startsWith("baseline") ? "-" : String.format(Locale.ROOT, "%.1f", BenchmarkReport.median(list, Run::seconds)),
        BenchmarkReport.median(list, Run::heapAfterMiB))));
    List<List<Run>> lists = new ArrayList<>(byScenario.values());
    if (lists.size() == 2) {
      md.append(String.format(Locale.ROOT, "%nRatio, entity / plain state: %.1fx%n",
          BenchmarkReport.median(lists.get(0), Run::bytesPerSession) / BenchmarkReport.median(lists.get(1), Run::bytesPerSession)));
    }
    return md.toString();
  }
}
