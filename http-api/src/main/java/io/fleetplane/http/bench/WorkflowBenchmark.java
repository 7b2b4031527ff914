package io.fleetplane.http.bench;

import akka.actor.typed.ActorSystem;
import akka.actor.typed.javadsl.Behaviors;
import akka.cluster.typed.Cluster;
import akka.cluster.typed.Join;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.TextNode;
import io.fleetplane.config.FleetplaneConfig;
import io.fleetplane.jobs.workflow.WorkflowEngine;
import io.fleetplane.jobs.workflow.WorkflowInstance;
import io.fleetplane.jobs.workflow.WorkflowInstance.InstanceView;
import io.fleetplane.jobs.workflow.WorkflowInstance.LoopView;
import io.fleetplane.jobs.workflow.domain.InstanceStatus;
import io.fleetplane.persistence.DatabaseMigrations;
import io.fleetplane.persistence.PersistenceSettings;
import io.fleetplane.testkit.infra.PostgresEndpoint;
import io.fleetplane.testkit.infra.TestPostgres;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;

/**
 * {@code ./fleetplane bench workflow}: the workflow engine's foreach at scale (issue 8), on one node
 * with the real PostgreSQL journal, against Temporal's in-process test server as the peer.
 *
 * <p>Each run measures, in this order:
 * <ol>
 *   <li>Fleetplane, a foreach of {@code iterations} (default 100,000) {@code noop} iterations;</li>
 *   <li>Fleetplane, the same foreach with {@code fanOut} (default 10,000) iterations;</li>
 *   <li>Temporal, a parent workflow fanning out {@code fanOut} child workflows, each running one
 *       no-op activity, with the same concurrency: rows 2 and 3 compare like with like;</li>
 *   <li>optionally Fleetplane, {@code examples/backfill.yaml} over {@code backfillHours} hours (the
 *       issue's 43,800-iteration variant: five years of hours).</li>
 * </ol>
 * Wall time is from the start request to the instance's recorded finish; events are the journal
 * rows the run wrote (parent and every child: {@code persistence_id} prefix), so events/s is the
 * journal's write rate for that run. Peak heap is sampled every 20 ms during the run (garbage
 * included: without {@code -Xmx} the collector has no reason to collect early); retained heap is
 * what a full GC leaves at the end.
 */
public final class WorkflowBenchmark {

  /** One scenario of one run. {@code events} is -1 where not counted. */
  public record Run(String scenario, int iterations, double seconds, long events, boolean eventsEstimated,
      double peakHeapMb, double retainedHeapMb) {
    double iterationsPerSecond() {
      return iterations / seconds;
    }

    double eventsPerSecond() {
      return events / seconds;
    }
  }

  static final double TARGET_SECONDS = 45;
  static final double TARGET_HEAP_MB = 1024;
  static final int TARGET_ITERATIONS = 100_000;

  private final int iterations;
  private final int fanOut;
  private final int concurrency;
  private final int backfillHours;
  private final Optional<Path> jfr;
  private final MemoryMXBean memory = ManagementFactory.getMemoryMXBean();

  /**
   * @param iterations the big foreach (the 100,000)
   * @param fanOut the size run on both systems (the 10,000 children)
   * @param concurrency iterations (children) running at once, on both systems
   * @param backfillHours iterations of the backfill example; 0 skips it
   * @param jfr when present, one extra (unrecorded) big foreach under JFR, saved there, hot methods reported
   */
  public WorkflowBenchmark(int iterations, int fanOut, int concurrency, int backfillHours, Optional<Path> jfr) {
    if (iterations < 1 || fanOut < 1 || backfillHours < 0) {
      throw new IllegalArgumentException("--wf-iterations and --wf-fanout must be at least 1 and --wf-backfill-hours"
          + " at least 0 (0 skips the backfill)");
    }
    if (concurrency < 1 || concurrency > 1000) {
      // The engine's fleetplane.workflows.max-foreach-concurrency (1,000) rejects larger definitions.
      throw new IllegalArgumentException("--wf-concurrency must be between 1 and 1000 (the engine's"
          + " max-foreach-concurrency), was " + concurrency);
    }
    this.iterations = iterations;
    this.fanOut = fanOut;
    this.concurrency = concurrency;
    this.backfillHours = backfillHours;
    this.jfr = jfr;
  }

  public String run(int runs, int warmup, String command) throws Exception {
    String backfill = backfillHours > 0 ? backfillYaml() : null;
    PostgresEndpoint db = TestPostgres.newSchema();
    List<Run> results = new ArrayList<>();
    String hotMethods = null;
    ActorSystem<Void> system = null;
    try {
      DatabaseMigrations.migrate(new PersistenceSettings(db.jdbcUrl(), db.user(), db.password(), 4, true,
          Duration.ofSeconds(10)));
      system = startNode(db);
      WorkflowEngine engine = WorkflowEngine.start(system);
      await(engine.store().create(foreachYaml("bench-foreach-big", iterations), Optional.of("bench")));
      await(engine.store().create(foreachYaml("bench-foreach-fanout", fanOut), Optional.of("bench")));
      await(engine.store().create(foreachYaml("bench-foreach-warm", 50), Optional.of("bench")));
      if (backfill != null) {
        await(engine.store().create(backfill, Optional.of("bench")));
      }
      warmEngine(engine);
      for (int run = 1 - warmup; run <= runs; run++) {
        System.out.printf("workflow: %s%n", run < 1 ? "warm-up run (not recorded)" : "run " + run + "/" + runs);
        List<Run> these = new ArrayList<>();
        these.add(fleetplane(engine, db, "bench-foreach-big", String.format(Locale.ROOT,
            "Fleetplane foreach, %,d noop iterations", iterations), iterations, Map.of()));
        these.add(fleetplane(engine, db, "bench-foreach-fanout", String.format(Locale.ROOT,
            "Fleetplane foreach, %,d noop iterations (peer size)", fanOut), fanOut, Map.of()));
        these.add(temporal(run));
        if (backfill != null) {
          Instant from = Instant.parse("2020-01-01T00:00:00Z");
          these.add(fleetplane(engine, db, "backfill", String.format(Locale.ROOT,
              "Fleetplane examples/backfill.yaml, %,d hours", backfillHours), backfillHours, Map.of(
                  "start", TextNode.valueOf(from.toString()),
                  "end", TextNode.valueOf(from.plus(Duration.ofHours(backfillHours)).toString()))));
        }
        if (run >= 1) {
          results.addAll(these);
        }
      }
      if (jfr.isPresent()) {
        hotMethods = profiled(engine, db);
      }
    } finally {
      if (system != null) {
        system.terminate();
        system.getWhenTerminated().toCompletableFuture().get(60, TimeUnit.SECONDS);
      }
      TestPostgres.dropSchema(db);
    }
    return markdown(results, command, hotMethods);
  }

  private ActorSystem<Void> startNode(PostgresEndpoint db) {
    Map<String, Object> c = new HashMap<>();
    c.put("akka.actor.provider", "cluster");
    c.put("akka.remote.artery.canonical.hostname", "127.0.0.1");
    c.put("akka.remote.artery.canonical.port", 0);
    c.put("akka.loglevel", "WARNING");
    c.put("fleetplane.persistence.jdbc-url", db.jdbcUrl());
    c.put("fleetplane.persistence.user", db.user());
    c.put("fleetplane.persistence.password", db.password());
    // Sizes above the shipped limit (100,000) are allowed here so the benchmark can probe past it.
    int limit = Math.max(Math.max(iterations, fanOut), Math.max(backfillHours, 100_000));
    c.put("fleetplane.workflows.max-foreach-iterations", limit);
    c.put("fleetplane.workflows.expressions.max-comprehension-iterations", limit);
    ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), "bench-workflow", FleetplaneConfig.load(c));
    Cluster.get(system).manager().tell(Join.create(Cluster.get(system).selfMember().address()));
    return system;
  }

  private String foreachYaml(String id, int n) {
    return String.format(Locale.ROOT, """
        id: %s
        owner: bench
        description: A foreach over %d noop iterations (./fleetplane bench workflow).
        steps:
          - id: loop
            type: foreach
            foreach:
              items: "range(%d)"
              as: i
              concurrency: %d
              steps:
                - {id: work, type: noop, params: {i: "${i}"}}
        """, id, n, n, concurrency);
  }

  /** The shipped example, with the benchmark's concurrency instead of its 10. */
  private String backfillYaml() throws Exception {
    Path file = Path.of(System.getProperty("fleetplane.home", "."), "examples", "backfill.yaml");
    if (!Files.exists(file)) {
      throw new IllegalStateException(file.toAbsolutePath() + " is missing: run the benchmark from the repository"
          + " (./fleetplane bench workflow) or pass --wf-backfill-hours 0 to skip the backfill scenario");
    }
    String yaml = Files.readString(file);
    if (!yaml.contains("concurrency: 10")) {
      throw new IllegalStateException(file + " no longer says 'concurrency: 10'; update WorkflowBenchmark.backfillYaml"
          + " to set the benchmark's concurrency, or pass --wf-backfill-hours 0");
    }
    return yaml.replace("concurrency: 10", "concurrency: " + concurrency);
  }

  /**
   * The first instances pay for shard allocation, the journal's cold pool and class loading: not
   * what is measured. Retried (a fresh instance each time) until the node answers.
   */
  private void warmEngine(WorkflowEngine engine) throws Exception {
    for (int attempt = 1; ; attempt++) {
      try {
        InstanceView v = engine.startInstance("bench-foreach-warm", Optional.empty(), Map.of(), Optional.empty())
            .toCompletableFuture().get(30, TimeUnit.SECONDS);
        awaitFinished(engine, v.instanceId(), Duration.ofSeconds(60), "warm-up", 50);
        return;
      } catch (ExecutionException | TimeoutException e) {
        if (attempt == 10) {
          throw new IllegalStateException("the engine does not run instances (is PostgreSQL up?): " + e, e);
        }
      }
    }
  }

  private Run fleetplane(WorkflowEngine engine, PostgresEndpoint db, String workflowId, String scenario, int n,
      Map<String, JsonNode> params) throws Exception {
    System.gc(); // every scenario starts from the same live heap
    try (HeapSampler heap = new HeapSampler(memory)) {
      Instant t0 = Instant.now();
      InstanceView started = await(engine.startInstance(workflowId, Optional.empty(), params, Optional.empty()));
      InstanceView done = awaitFinished(engine, started.instanceId(), Duration.ofSeconds(120 + n / 100),
          scenario, n);
      double peak = heap.peakMb();
      if (done.status() != InstanceStatus.SUCCEEDED) {
        throw new IllegalStateException(scenario + ": instance " + done.instanceId() + " ended " + done.status()
            + " (" + done.reason() + "); the figures would be meaningless. Check the node's log above.");
      }
      LoopView loop = loop(done).orElseThrow();
      if (loop.succeeded() != n) {
        throw new IllegalStateException(scenario + ": " + loop.succeeded() + " of " + n + " iterations succeeded");
      }
      double seconds = Duration.between(t0, done.finishedAt()).toNanos() / 1e9;
      long events = journalEvents(db, done.instanceId());
      Run r = new Run(scenario, n, seconds, events, false, peak, retainedMb());
      print(r);
      return r;
    }
  }

  /** Polls the parent (10 times a second) until it finishes; prints progress every 5 s. */
  private InstanceView awaitFinished(WorkflowEngine engine, String instanceId, Duration timeout, String scenario,
      int n) throws Exception {
    long start = System.nanoTime();
    long deadline = start + timeout.toNanos();
    long nextProgress = start + TimeUnit.SECONDS.toNanos(5);
    int unanswered = 0;
    while (true) {
      WorkflowInstance.GetReply reply = null;
      try {
        reply = await(engine.get(instanceId));
      } catch (TimeoutException e) {
        // A parent busy with thousands of completions may answer late; that is not a failure of
        // the run, only of this poll. The deadline below still bounds the wait.
        if (unanswered++ == 0) {
          System.out.println("    (the instance did not answer a status poll within the ask timeout; still waiting)");
        }
      }
      if (reply instanceof WorkflowInstance.InstanceFound found) {
        InstanceView v = found.instance();
        if (v.status().terminal()) {
          return v;
        }
        long now = System.nanoTime();
        if (now > nextProgress) {
          nextProgress = now + TimeUnit.SECONDS.toNanos(5);
          progress(scenario, loop(v).map(LoopView::succeeded).orElse(0), n, now - start);
        }
      }
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException(scenario + ": instance " + instanceId + " did not finish within " + timeout
            .toSeconds() + " s; lower --wf-iterations or look for errors in the node's log above");
      }
      Thread.sleep(100);
    }
  }

  private void progress(String scenario, int done, int n, long elapsedNanos) {
    System.out.printf(Locale.ROOT, "    %-58s %,9d/%,d done after %5.1f s (%,.0f/s), heap %,d MB%n", scenario, done, n,
        elapsedNanos / 1e9, done / (elapsedNanos / 1e9), memory.getHeapMemoryUsage().getUsed() >> 20);
  }

  private static Optional<LoopView> loop(InstanceView v) {
    return v.steps().stream().flatMap(s -> s.foreach().stream()).findFirst();
  }

  /** Journal rows of the instance and all its iterations (children's ids extend the parent's). */
  private static long journalEvents(PostgresEndpoint db, String instanceId) throws Exception {
    try (Connection c = DriverManager.getConnection(db.jdbcUrl(), db.user(), db.password());
        PreparedStatement ps = c.prepareStatement("SELECT count(*) FROM event_journal WHERE persistence_id LIKE ?")) {
      ps.setString(1, WorkflowInstance.ENTITY_TYPE_KEY.name() + "|" + instanceId + "%");
      try (ResultSet rs = ps.executeQuery()) {
        rs.next();
        return rs.getLong(1);
      }
    }
  }

  private Run temporal(int run) throws Exception {
    String scenario = String.format(Locale.ROOT, "Temporal test server, %,d child workflows (peer)", fanOut);
    System.gc();
    // The server's start is not measured, as the Fleetplane node's is not.
    try (TemporalFanOut temporal = new TemporalFanOut(); HeapSampler heap = new HeapSampler(memory)) {
      String parentId = "bench-fanout-" + run + "-" + UUID.randomUUID();
      long t0 = System.nanoTime();
      CompletableFuture<Integer> result = temporal.start(parentId, fanOut, concurrency);
      long deadline = t0 + TimeUnit.SECONDS.toNanos(120 + fanOut / 20);
      long nextProgress = t0 + TimeUnit.SECONDS.toNanos(5);
      Integer succeeded = null;
      while (succeeded == null) {
        try {
          succeeded = result.get(100, TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
          throw new IllegalStateException(scenario + " failed: " + e.getCause() + "; see the Temporal log lines"
              + " above, or run with a smaller --wf-fanout", e.getCause());
        } catch (TimeoutException notYet) {
          long now = System.nanoTime();
          if (now > deadline) {
            throw new IllegalStateException(scenario + " did not finish within " + (deadline - t0) / 1_000_000_000L
                + " s; lower --wf-fanout");
          }
          if (now > nextProgress) {
            nextProgress = now + TimeUnit.SECONDS.toNanos(5);
            progress(scenario, temporal.activitiesDone(), fanOut, now - t0);
          }
        }
      }
      double seconds = (System.nanoTime() - t0) / 1e9;
      double peak = heap.peakMb();
      if (succeeded != fanOut) {
        throw new IllegalStateException(scenario + ": " + succeeded + " of " + fanOut + " children succeeded");
      }
      // The parent's history plus fanOut times one child's (every child's history has the same
      // shape): reading all 10,000 histories would take longer than the run.
      long events = temporal.historyEvents(parentId) + (long) fanOut * temporal.historyEvents(parentId + "-0");
      Run r = new Run(scenario, fanOut, seconds, events, true, peak, retainedMb());
      print(r);
      return r;
    }
  }

  /** One more big foreach under JFR (not recorded: the recording costs throughput on two cores). */
  private String profiled(WorkflowEngine engine, PostgresEndpoint db) throws Exception {
    System.out.println("workflow: one more run under JFR (not recorded)");
    try (jdk.jfr.Recording recording = new jdk.jfr.Recording(jdk.jfr.Configuration.getConfiguration("profile"))) {
      recording.start();
      fleetplane(engine, db, "bench-foreach-big", String.format(Locale.ROOT,
          "Fleetplane foreach, %,d noop iterations, under JFR", iterations), iterations, Map.of());
      recording.stop();
      recording.dump(jfr.get());
    }
    System.out.println("JFR recording: " + jfr.get().toAbsolutePath()
        + " (jfr print --events jdk.ExecutionSample, or JDK Mission Control)");
    String hot = JfrSummary.hotMethods(jfr.get(), 15);
    System.out.print(hot);
    return hot;
  }

  private double retainedMb() {
    System.gc();
    return memory.getHeapMemoryUsage().getUsed() / (1024.0 * 1024);
  }

  private static void print(Run r) {
    System.out.printf(Locale.ROOT, "  %-62s %7.1f s  %,8.0f it/s  %,10d events%s  %,9.0f events/s  peak heap %,6.0f MB"
            + "  retained %,5.0f MB%n", r.scenario(), r.seconds(), r.iterationsPerSecond(), r.events(),
        r.eventsEstimated() ? "~" : " ", r.eventsPerSecond(), r.peakHeapMb(), r.retainedHeapMb());
  }

  private static <T> T await(CompletionStage<T> stage) throws Exception {
    try {
      return stage.toCompletableFuture().get(60, TimeUnit.SECONDS);
    } catch (ExecutionException e) {
      throw e.getCause() instanceof Exception cause ? cause : e;
    }
  }

  String markdown(List<Run> results, String command, String hotMethods) {
    long maxHeapMb = Runtime.getRuntime().maxMemory() >> 20;
    StringBuilder md = new StringBuilder(BenchmarkReport.header(String.format(Locale.ROOT,
        "Workflow foreach: %,d iterations, Temporal peer at %,d children", iterations, fanOut), command,
        "One node (engine, sharding, journal on PostgreSQL 127.0.0.1, one schema per invocation); each iteration is"
            + " a child instance running one noop step, " + concurrency + " running at once. Peer: Temporal "
            + "temporal-testing " + temporalVersion() + " (in-process Java test server, time skipping off, one worker,"
            + " one environment per run) in the same JVM, a parent workflow starting child workflows, each running"
            + " one no-op activity, the same " + concurrency + " at once. Wall time: start request -> recorded finish"
            + " (Fleetplane) / workflow result (Temporal). Events: journal rows of the instance and its children"
            + " (Fleetplane); history events, parent + N x child 0 (Temporal, marked ~). Peak heap: used heap"
            + " sampled every 20 ms, garbage included (max heap " + maxHeapMb + " MiB); retained: after a full GC"
            + " at the end. Ratio: iterations/s over Temporal's (above 1 = faster); like for like only on the"
            + " peer-size row. Shared 2-core machine: noisy."))
        .append("| scenario | runs | wall s (median) | wall s min-max | iterations/s | events | events/s |"
            + " peak heap MB (max) | retained MB | ratio to Temporal |\n|---|---|---|---|---|---|---|---|---|---|\n");
    Map<String, List<Run>> by = new LinkedHashMap<>();
    results.forEach(r -> by.computeIfAbsent(r.scenario(), k -> new ArrayList<>()).add(r));
    double temporalRate = by.entrySet().stream().filter(e -> e.getKey().startsWith("Temporal")).findFirst()
        .map(e -> BenchmarkReport.median(e.getValue(), Run::iterationsPerSecond)).orElse(Double.NaN);
    by.forEach((scenario, list) -> {
      double rate = BenchmarkReport.median(list, Run::iterationsPerSecond);
      md.append(String.format(Locale.ROOT, "| %s | %d | %.1f | %.1f-%.1f | %,.0f | %s%,.0f | %,.0f | %,.0f | %,.0f | %s |%n",
          scenario, list.size(), BenchmarkReport.median(list, Run::seconds),
          list.stream().mapToDouble(Run::seconds).min().orElse(0), list.stream().mapToDouble(Run::seconds).max().orElse(0),
          rate, list.get(0).eventsEstimated() ? "~" : "", BenchmarkReport.median(list, r -> r.events()),
          BenchmarkReport.median(list, Run::eventsPerSecond),
          list.stream().mapToDouble(Run::peakHeapMb).max().orElse(0), BenchmarkReport.median(list, Run::retainedHeapMb),
          scenario.startsWith("Temporal") || Double.isNaN(temporalRate) ? "-"
              : String.format(Locale.ROOT, "%.2f", rate / temporalRate)));
    });
    md.append('\n').append(verdict(by, hotMethods));
    return md.toString();
  }

  /** The targets, met or not, with the measured figure; where missed, what the profile says. */
  private String verdict(Map<String, List<Run>> by, String hotMethods) {
    StringBuilder v = new StringBuilder();
    List<Run> big = by.entrySet().stream().filter(e -> e.getKey().startsWith("Fleetplane foreach")
        && !e.getKey().endsWith("(peer size)")).map(Map.Entry::getValue).findFirst().orElse(List.of());
    if (big.isEmpty()) {
      return "No measured run (--runs 0): no verdict.\n";
    }
    double wall = BenchmarkReport.median(big, Run::seconds);
    double heap = big.stream().mapToDouble(Run::peakHeapMb).max().orElse(0);
    boolean full = iterations >= TARGET_ITERATIONS;
    String size = String.format(Locale.ROOT, "%,d iterations", iterations);
    // Above 100,000 the budget grows in proportion (the same rate is asked for).
    boolean wallMet = wall <= TARGET_SECONDS * iterations / TARGET_ITERATIONS;
    // A smaller run only says its rate and the rate needed: it never claims the target.
    v.append(String.format(Locale.ROOT, "- Target wall time (100,000 iterations <= %.0f s): %s%n", TARGET_SECONDS,
        full ? (wallMet
            ? String.format(Locale.ROOT, "**met**, median %.1f s for %s.", wall, size)
            : String.format(Locale.ROOT, "**not met**, median %.1f s for %s (%,.0f iterations/s; %,.0f needed).",
                wall, size, iterations / wall, TARGET_ITERATIONS / TARGET_SECONDS))
            : String.format(Locale.ROOT, "not evaluated: this run had %s (median %.1f s, %,.0f iterations/s;"
                + " 100,000 in 45 s needs %,.0f/s).", size, wall, iterations / wall, TARGET_ITERATIONS / TARGET_SECONDS)));
    long maxHeapMb = Runtime.getRuntime().maxMemory() >> 20;
    String heapNote = maxHeapMb > TARGET_HEAP_MB
        ? String.format(Locale.ROOT, " The JVM could grow to %,d MiB, so this peak includes garbage it had no reason"
            + " to collect; the strict test is a run with FLEETPLANE_JAVA_OPTS='-Xss512k -Xmx1g', where completing is"
            + " the proof.", maxHeapMb)
        : String.format(Locale.ROOT, " The heap was capped at %,d MiB (-Xmx) and the run completed.", maxHeapMb);
    v.append(String.format(Locale.ROOT, "- Target heap (<= 1 GB): peak used %,.0f MB for %s: %s.%s%n", heap, size,
        !full ? "not evaluated at this size" : heap <= TARGET_HEAP_MB ? "**met**" : "**not met** as sampled",
        heapNote));
    if (full && !wallMet) {
      v.append(hotMethods != null
          ? "- Where the time went (JFR, one extra run of the big foreach):\n\n```\n" + hotMethods + "```\n"
          : "- Bottleneck: not profiled in this invocation; run again with --wf-jfr FILE for the hot methods. The"
              + " last profile on record (job-actors/README.md) puts it in each child's start: the journal's"
              + " recovery queries and its write, per iteration.\n");
    } else if (hotMethods != null) {
      v.append("- JFR, one extra run of the big foreach:\n\n```\n").append(hotMethods).append("```\n");
    }
    return v.toString();
  }

  private static String temporalVersion() {
    String v = io.temporal.testing.TestWorkflowEnvironment.class.getPackage().getImplementationVersion();
    return v != null ? v : "(version not in its manifest)";
  }

  /** Samples used heap every 20 ms on a daemon thread until closed. */
  private static final class HeapSampler implements AutoCloseable {
    private final AtomicLong peak = new AtomicLong();
    private final Thread thread;
    private volatile boolean running = true;

    HeapSampler(MemoryMXBean memory) {
      thread = new Thread(() -> {
        while (running) {
          peak.accumulateAndGet(memory.getHeapMemoryUsage().getUsed(), Math::max);
          try {
            Thread.sleep(20);
          } catch (InterruptedException e) {
            return;
          }
        }
      }, "bench-heap-sampler");
      thread.setDaemon(true);
      thread.start();
    }

    double peakMb() {
      return peak.get() / (1024.0 * 1024);
    }

    @Override
    public void close() {
      running = false;
      thread.interrupt();
    }
  }
}
