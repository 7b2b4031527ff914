package io.fleetplane.http.bench;

import akka.actor.typed.ActorSystem;
import akka.actor.typed.javadsl.Behaviors;
import akka.cluster.typed.Cluster;
import akka.cluster.typed.Join;
import io.fleetplane.config.FleetplaneConfig;
import io.fleetplane.jobs.workflow.WorkflowEngine;
import io.fleetplane.jobs.workflow.schedule.WorkflowScheduler;
import io.fleetplane.jobs.workflow.schedule.WorkflowSchedules;
import io.fleetplane.jobs.workflow.schedule.WorkflowSchedules.ScheduleRequest;
import io.fleetplane.persistence.DatabaseMigrations;
import io.fleetplane.persistence.PersistenceSettings;
import io.fleetplane.testkit.infra.PostgresEndpoint;
import io.fleetplane.testkit.infra.TestPostgres;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

/**
 * {@code ./fleetplane bench schedules}: N schedules (default 1,000) due at the same second, on one
 * node (engine, scheduler singleton, PostgreSQL journal). Scheduler delay = fire time (the fire
 * recorded durably, as the {@code fleetplane_workflows_schedule_delay} metric records it) minus
 * the scheduled time, read back from {@code workflow_schedule_fire}; start delay = the engine
 * accepted the instance's start minus the scheduled time; plus when the last of the N instances
 * had started.
 *
 * <p>Baseline in the same run: a {@code ScheduledExecutorService} that, at the same kind of
 * second, hands the same N starts (same requestIds scheme, same in-flight limit) straight to the
 * engine: the engine's own cost without the scheduler's planning, bookkeeping and singleton.
 */
public final class SchedulesBenchmark {

  /** One scenario of one run; millis. */
  public record Run(String scenario, int schedules, double p50, double p99, double max, double startP50,
      double startP99, double allStartedAfter) {}

  private final int schedules;
  private final int parallelism;

  public SchedulesBenchmark(int schedules) {
    this.schedules = schedules;
    this.parallelism = 32;
  }

  public String run(int runs, int warmup, String command) throws Exception {
    PostgresEndpoint db = TestPostgres.newSchema();
    List<Run> results = new ArrayList<>();
    ActorSystem<Void> system = null;
    try {
      DatabaseMigrations.migrate(new PersistenceSettings(db.jdbcUrl(), db.user(), db.password(), 4, true,
          Duration.ofSeconds(10)));
      Map<String, Object> c = new HashMap<>();
      c.put("akka.actor.provider", "cluster");
      c.put("akka.remote.artery.canonical.hostname", "127.0.0.1");
      c.put("akka.remote.artery.canonical.port", 0);
      c.put("akka.loglevel", "WARNING");
      c.put("fleetplane.persistence.jdbc-url", db.jdbcUrl());
      c.put("fleetplane.persistence.user", db.user());
      c.put("fleetplane.persistence.password", db.password());
      c.put("fleetplane.workflows.schedules.max-per-workflow", schedules);
      system = ActorSystem.create(Behaviors.empty(), "bench-schedules", FleetplaneConfig.load(c));
      Cluster.get(system).manager().tell(Join.create(Cluster.get(system).selfMember().address()));
      WorkflowEngine engine = WorkflowEngine.start(system);
      WorkflowSchedules all = WorkflowSchedules.start(system);
      await(engine.store().create("""
          id: bench-tick
          owner: bench
          steps:
            - {id: a, type: noop, params: {n: 1}}
          """, Optional.of("bench")));
      // The first starts pay for shard allocation and the journal's cold pool: not what is measured.
      // One at a time, each retried (same requestId, so one instance) until the node answers.
      for (int i = 0; i < 64; i++) {
        for (int attempt = 1; ; attempt++) {
          try {
            engine.startInstance("bench-tick", Optional.empty(), Map.of(), Optional.of("warm-" + i))
                .toCompletableFuture().get(30, TimeUnit.SECONDS);
            break;
          } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            if (attempt == 10) {
              throw new IllegalStateException("the engine does not start instances: " + e, e);
            }
          }
        }
      }
      for (int run = 1 - warmup; run <= runs; run++) {
        System.out.printf("schedules: %s (%,d due at the same second)%n", run < 1 ? "warm-up run (not recorded)"
            : "run " + run + "/" + runs, schedules);
        Run s = scheduler(all, db, run);
        Run b = baseline(engine, run);
        for (Run r : List.of(s, b)) {
          System.out.printf(Locale.ROOT, "  %-58s p50 %7.1f ms  p99 %7.1f ms  max %7.1f ms  start p99 %7.1f ms"
              + "  all started +%7.1f ms%n", r.scenario(), r.p50(), r.p99(), r.max(), r.startP99(), r.allStartedAfter());
          if (run >= 1) {
            results.add(r);
          }
        }
      }
    } finally {
      if (system != null) {
        system.terminate();
        system.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
      }
      TestPostgres.dropSchema(db);
    }
    return markdown(results, command);
  }

  private Run scheduler(WorkflowSchedules all, PostgresEndpoint db, int run) throws Exception {
    // Far enough ahead to create every schedule first (creation is not measured).
    Instant due = Instant.now().plusSeconds(Math.max(15, schedules / 25)).truncatedTo(ChronoUnit.SECONDS);
    long creating = System.nanoTime();
    ZonedDateTime z = due.atZone(ZoneOffset.UTC);
    String cron = String.format(Locale.ROOT, "%d %d %d %d %d *", z.getSecond(), z.getMinute(), z.getHour(),
        z.getDayOfMonth(), z.getMonthValue());
    List<CompletableFuture<WorkflowSchedules.ScheduleView>> created = new ArrayList<>();
    Semaphore limit = new Semaphore(16);
    for (int i = 0; i < schedules; i++) {
      limit.acquire();
      CompletableFuture<WorkflowSchedules.ScheduleView> f = all.create("bench-tick", new ScheduleRequest(cron,
          Optional.of("UTC"), Optional.of("skip"), Optional.empty(), Map.of(), true)).toCompletableFuture();
      f.whenComplete((v, e) -> limit.release());
      created.add(f);
    }
    List<String> ids = new ArrayList<>();
    for (var f : created) {
      ids.add(f.get(60, TimeUnit.SECONDS).scheduleId());
    }
    System.out.printf(Locale.ROOT, "  created %,d schedules in %.1f s (not measured), due %s%n", schedules,
        (System.nanoTime() - creating) / 1e9, due);
    if (Instant.now().isAfter(due.minusSeconds(1))) {
      throw new IllegalStateException("creating " + schedules + " schedules took past their due second " + due);
    }
    List<long[]> fires;
    // Generous: on this shared machine the engine starts only tens of instances a second.
    long waitSeconds = Math.max(120, schedules / 2);
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(waitSeconds);
    // One connection for all the polling: a new PostgreSQL connection is a backend process forked,
    // which the measured node would pay for on the same 2 cores.
    try (Connection poll = DriverManager.getConnection(db.jdbcUrl(), db.user(), db.password())) {
      while (true) {
        fires = fires(poll, due);
        if (fires.size() >= schedules && fires.stream().allMatch(f -> f[1] >= 0)) {
          break;
        }
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException("only " + fires.size() + " of " + schedules + " fired, "
              + fires.stream().filter(f -> f[1] >= 0).count() + " started within " + waitSeconds + " s");
        }
        Thread.sleep(50);
      }
    }
    for (String id : ids) {
      await(all.delete("bench-tick", id));
    }
    List<Long> delays = new ArrayList<>(fires.stream().map(f -> f[0]).sorted().toList());
    List<Long> starts = new ArrayList<>(fires.stream().map(f -> f[1]).sorted().toList());
    return new Run("fleetplane scheduler (singleton, " + parallelism + " starts in flight)", schedules,
        pct(delays, 50), pct(delays, 99), delays.get(delays.size() - 1), pct(starts, 50), pct(starts, 99),
        starts.get(starts.size() - 1));
  }

  /**
   * Every fire of that second: {fired_at - scheduled_time, started_at - scheduled_time (-1 while
   * not started)}, millis.
   */
  private static List<long[]> fires(Connection c, Instant due) throws Exception {
    List<long[]> out = new ArrayList<>();
    try (PreparedStatement ps = c.prepareStatement("SELECT EXTRACT(EPOCH FROM (fired_at - scheduled_time)) * 1000,"
            + " COALESCE(EXTRACT(EPOCH FROM (started_at - scheduled_time)) * 1000, -1)"
            + " FROM workflow_schedule_fire WHERE scheduled_time = ?")) {
      ps.setTimestamp(1, java.sql.Timestamp.from(due));
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          out.add(new long[] {Math.round(rs.getDouble(1)), Math.round(rs.getDouble(2))});
        }
      }
    }
    return out;
  }

  private Run baseline(WorkflowEngine engine, int run) throws Exception {
    Instant due = Instant.now().plusSeconds(3).truncatedTo(ChronoUnit.SECONDS);
    ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();
    List<Long> delays = Collections.synchronizedList(new ArrayList<>());
    List<Long> started = Collections.synchronizedList(new ArrayList<>());
    CompletableFuture<Instant> done = new CompletableFuture<>();
    try {
      timer.schedule(() -> {
        Semaphore inFlight = new Semaphore(parallelism);
        List<CompletableFuture<?>> starts = new ArrayList<>();
        for (int i = 0; i < schedules; i++) {
          inFlight.acquireUninterruptibly();
          delays.add(Duration.between(due, Instant.now()).toMillis());
          CompletionStage<?> s = engine.startInstance("bench-tick", Optional.empty(), Map.of(),
              Optional.of(WorkflowScheduler.requestId("baseline-" + run + "-" + i, due)));
          CompletableFuture<?> f = s.toCompletableFuture();
          f.whenComplete((v, e) -> {
            started.add(Duration.between(due, Instant.now()).toMillis());
            inFlight.release();
          });
          starts.add(f);
        }
        CompletableFuture.allOf(starts.toArray(CompletableFuture[]::new)).whenComplete((v, e) -> {
          if (e != null) {
            done.completeExceptionally(e);
          } else {
            done.complete(Instant.now());
          }
        });
      }, Math.max(0, Duration.between(Instant.now(), due).toMillis()), TimeUnit.MILLISECONDS);
      Instant finished = done.get(Math.max(120, schedules / 2), TimeUnit.SECONDS);
      List<Long> sorted = new ArrayList<>(delays);
      Collections.sort(sorted);
      List<Long> startSorted = new ArrayList<>(started);
      Collections.sort(startSorted);
      return new Run("baseline: timer thread -> engine.startInstance directly", schedules, pct(sorted, 50),
          pct(sorted, 99), sorted.get(sorted.size() - 1), pct(startSorted, 50), pct(startSorted, 99),
          Duration.between(due, finished).toNanos() / 1e6);
    } finally {
      timer.shutdownNow();
    }
  }

  private static double pct(List<Long> sorted, int p) {
    int index = (int) Math.ceil(p / 100.0 * sorted.size()) - 1;
    return sorted.get(Math.max(0, Math.min(sorted.size() - 1, index)));
  }

  private static <T> T await(CompletionStage<T> stage) throws Exception {
    return stage.toCompletableFuture().get(60, TimeUnit.SECONDS);
  }

  private String markdown(List<Run> results, String command) {
    StringBuilder md = new StringBuilder(BenchmarkReport.header("Schedules: " + schedules
        + " due at the same second", command, "One node (engine + scheduler singleton, tick 100 ms), PostgreSQL on"
        + " 127.0.0.1 (journal and schedule tables, one schema per invocation), noop workflow; delay = fire time"
        + " - scheduled time, where the scheduler's fire is its durable fire record (one transaction per tick for"
        + " every due fire time; the metric fleetplane_workflows_schedule_delay) and the baseline's is the start"
        + " handed to the engine; start = the engine accepted the instance's start - scheduled time (both);"
        + " 'all started' = the last start accepted. Target (issue 9): scheduler delay p99 <= 1 s."))
        .append("| scenario | runs | delay p50 ms | p99 ms (min-max) | max ms | start p50 ms | start p99 ms |"
            + " all started after ms (min-max) | all-started ratio to baseline |\n|---|---|---|---|---|---|---|---|---|\n");
    Map<String, List<Run>> by = new java.util.LinkedHashMap<>();
    results.forEach(r -> by.computeIfAbsent(r.scenario(), k -> new ArrayList<>()).add(r));
    double baseline = by.entrySet().stream().filter(e -> e.getKey().startsWith("baseline")).findFirst()
        .map(e -> BenchmarkReport.median(e.getValue(), Run::allStartedAfter)).orElse(Double.NaN);
    by.forEach((scenario, list) -> md.append(String.format(Locale.ROOT,
        "| %s | %d | %.0f | %.0f (%.0f-%.0f) | %.0f | %.0f | %.0f | %.0f (%.0f-%.0f) | %s |%n", scenario, list.size(),
        BenchmarkReport.median(list, Run::p50), BenchmarkReport.median(list, Run::p99),
        list.stream().mapToDouble(Run::p99).min().orElse(0), list.stream().mapToDouble(Run::p99).max().orElse(0),
        BenchmarkReport.median(list, Run::max), BenchmarkReport.median(list, Run::startP50),
        BenchmarkReport.median(list, Run::startP99), BenchmarkReport.median(list, Run::allStartedAfter),
        list.stream().mapToDouble(Run::allStartedAfter).min().orElse(0),
        list.stream().mapToDouble(Run::allStartedAfter).max().orElse(0),
        scenario.startsWith("baseline") ? "-" : String.format(Locale.ROOT, "%.2f",
            BenchmarkReport.median(list, Run::allStartedAfter) / baseline))));
    return md.toString();
  }
}
