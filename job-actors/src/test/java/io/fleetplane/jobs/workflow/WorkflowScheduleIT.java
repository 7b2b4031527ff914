package io.fleetplane.jobs.workflow;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.actor.typed.ActorSystem;
import io.fleetplane.jobs.workflow.schedule.WorkflowScheduler;
import io.fleetplane.jobs.workflow.schedule.WorkflowSchedules;
import io.fleetplane.jobs.workflow.schedule.WorkflowSchedules.ScheduleRequest;
import io.fleetplane.jobs.workflow.schedule.WorkflowSchedules.ScheduleView;
import io.fleetplane.testkit.Eventually;
import io.fleetplane.testkit.infra.PostgresEndpoint;
import io.fleetplane.testkit.infra.TestPostgres;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/**
 * Schedules end to end on the real journal: three schedules firing every second start one
 * instance per fire time, none missing and none doubled, across a node restart in the middle
 * whose gap each catch-up policy fills its own way.
 *
 * <p>Length: {@code -Dfleetplane.test.schedule.seconds} (default 30: about 12 s on the first node,
 * a 6 s outage, the rest on the second; 60 matches the "a minute").
 * Instances are counted from the journal (every persistence id of a {@code WorkflowInstance}),
 * not from the scheduler's own records, so a doubled start would show as an extra instance.
 */
class WorkflowScheduleIT {

  private static final Duration MISFIRE = Duration.ofSeconds(2);

  @Test
  void everySecondAcrossANodeRestartStartsOneInstancePerFireTime() throws Exception {
    int seconds = Integer.getInteger("fleetplane.test.schedule.seconds", 30);
    PostgresEndpoint db = TestPostgres.newSchema();
    WorkflowFixture.migrate(db);
    Map<String, Object> config = WorkflowFixture.config(db);
    config.put("fleetplane.workflows.schedules.misfire-threshold", MISFIRE.toMillis() + "ms");
    config.put("fleetplane.workflows.schedules.tick-interval", "50ms");

    ActorSystem<Void> node1 = WorkflowFixture.startSystem(config);
    WorkflowEngine engine1 = WorkflowEngine.start(node1);
    WorkflowSchedules schedules1 = WorkflowSchedules.start(node1);
    WorkflowFixture.store(engine1, """
        id: tick
        owner: it
        params: {source: none}
        steps:
          - {id: a, type: noop, params: {from: "${params.source}"}}
        """);
    Map<String, ScheduleView> byPolicy = new HashMap<>();
    for (String policy : List.of("all-missed", "skip", "latest-once")) {
      byPolicy.put(policy, WorkflowFixture.await(schedules1.create("tick", new ScheduleRequest("* * * * * *",
          Optional.of("Europe/Berlin"), Optional.of(policy), Optional.of(100),
          Map.of("source", com.fasterxml.jackson.databind.node.TextNode.valueOf(policy)), true))));
    }
    ScheduleView all = byPolicy.get("all-missed");
    assertEquals(5, all.nextFireTimes().size(), "the API shows the next fire times");

    int firstPhase = Math.max(5, seconds * 2 / 5);
    awaitFires(schedules1, all, firstPhase, Duration.ofSeconds(firstPhase + 20));
    WorkflowFixture.stop(node1);
    Instant stoppedAt = Instant.now();
    // The outage has to last in real time: fire times come due while no scheduler runs, for longer
    // than the misfire threshold (5 s), so the catch-up policies decide what happens to them.
    Instant outageOver = stoppedAt.plusSeconds(6);
    Eventually.await(Duration.ofSeconds(10), Duration.ofMillis(200), () -> !Instant.now().isBefore(outageOver),
        () -> "the outage lasts until " + outageOver);

    ActorSystem<Void> node2 = WorkflowFixture.startSystem(config);
    try {
      WorkflowEngine engine2 = WorkflowEngine.start(node2);
      WorkflowSchedules schedules2 = WorkflowSchedules.start(node2);
      awaitFires(schedules2, all, seconds, Duration.ofSeconds(seconds + 30));
      for (ScheduleView s : byPolicy.values()) {
        WorkflowFixture.await(schedules2.setEnabled("tick", s.scheduleId(), false));
      }
      // A start that was in flight when disabling finishes; wait until the journal stops growing.
      Map<String, String> instances = awaitStableInstances(db);

      // Every instance in the journal, by the fire time that started it (from its own requestId).
      Map<String, TreeMap<Instant, Integer>> started = new HashMap<>();
      for (String instanceId : instances.keySet()) {
        WorkflowInstance.InstanceView v = WorkflowFixture.view(engine2, instanceId).orElseThrow();
        String requestId = v.requestId().orElseThrow(() -> new AssertionError("unscheduled instance " + v));
        String scheduleId = requestId.substring("schedule:".length(), requestId.indexOf('@'));
        Instant at = Instant.parse(requestId.substring(requestId.indexOf('@') + 1));
        started.computeIfAbsent(scheduleId, k -> new TreeMap<>()).merge(at, 1, Integer::sum);
        assertEquals(requestId, WorkflowScheduler.requestId(scheduleId, at));
      }
      for (var e : started.entrySet()) {
        e.getValue().forEach((at, n) -> assertEquals(1, n, "fire time " + at + " of " + e.getKey() + " started once"));
      }

      List<Instant> allTimes = new ArrayList<>(started.get(all.scheduleId()).keySet());
      assertTrue(allTimes.size() >= seconds, "ran for " + seconds + " fire times: " + allTimes.size());
      assertTrue(allTimes.get(0).isAfter(all.createdAt().minusSeconds(1)) && !allTimes.get(0).isAfter(all.createdAt()
          .plusSeconds(1)), "starts with the first second after creation " + all.createdAt() + ": " + allTimes.get(0));
      assertEquals(List.of(), gaps(allTimes), "all-missed: no second missing, across the restart");
      assertTrue(allTimes.stream().anyMatch(t -> t.isAfter(stoppedAt.plusSeconds(1))
          && t.isBefore(stoppedAt.plusSeconds(5))), "fire times of the outage were caught up");

      List<Instant> skip = new ArrayList<>(started.get(byPolicy.get("skip").scheduleId()).keySet());
      List<Instant> latest = new ArrayList<>(started.get(byPolicy.get("latest-once").scheduleId()).keySet());
      List<List<Instant>> skipGaps = gaps(skip);
      List<List<Instant>> latestGaps = gaps(latest);
      assertEquals(1, skipGaps.size(), "skip: exactly one gap, the outage: " + skipGaps);
      assertEquals(1, latestGaps.size(), "latest-once: exactly one gap, the outage: " + latestGaps);
      // Both resumed at the same planning instant: latest-once ran the latest missed second as
      // well, so its run after the gap starts one second before skip's.
      Instant skipResumed = skipGaps.get(0).get(1);
      Instant latestResumed = latestGaps.get(0).get(1);
      assertEquals(skipResumed.minusSeconds(1), latestResumed, "latest-once ran one missed second");
      assertTrue(Duration.between(skipGaps.get(0).get(0), skipResumed).toSeconds() >= 3,
          "the outage (6 s, misfire threshold 2 s) left skipped seconds: " + skipGaps);
      assertFalse(skip.isEmpty());

      // The scheduler's own records agree, and lineage answers "which schedule started this instance".
      // Fires are recorded before their start: a fire recorded just before disabling may never
      // start, and then says why; every other fire started the instance it names.
      var fires = WorkflowFixture.await(schedules2.fires("tick", all.scheduleId(), 1000));
      var startedFires = fires.stream().filter(f -> f.startedAt() != null && f.startError() == null).toList();
      assertEquals(allTimes.size(), startedFires.size(), "one started fire per instance");
      for (var f : startedFires) {
        assertTrue(instances.containsKey(f.instanceId()), "the fire names the instance it started: " + f);
        assertFalse(f.firedAt().isAfter(f.startedAt()), "recorded before started: " + f);
      }
      for (var f : fires) {
        if (!startedFires.contains(f)) {
          assertTrue(f.startError() != null && f.startError().contains("disabled"), "a fire that never started says why: " + f);
          assertFalse(instances.containsKey(f.instanceId()), "and started nothing: " + f);
        }
      }
      String someInstance = instances.keySet().iterator().next();
      var startedBy = WorkflowFixture.await(schedules2.startedBy(someInstance)).orElseThrow();
      assertEquals("tick", startedBy.workflowId());
      assertEquals(instances.size(), started.values().stream().mapToInt(TreeMap::size).sum());
    } finally {
      WorkflowFixture.stop(node2);
    }
  }

  /**
   * A scheduler that recorded a fire and stopped before starting its instance (a crash, a
   * hand-over) leaves the row unstarted: the next scheduler starts it, once.
   */
  @Test
  void aFireRecordedButNotStartedIsStartedByTheNextScheduler() throws Exception {
    PostgresEndpoint db = TestPostgres.newSchema();
    WorkflowFixture.migrate(db);
    Map<String, Object> config = WorkflowFixture.config(db);
    ActorSystem<Void> node1 = WorkflowFixture.startSystem(config);
    ScheduleView yearly;
    try {
      WorkflowEngine engine1 = WorkflowEngine.start(node1);
      WorkflowSchedules schedules1 = WorkflowSchedules.start(node1);
      WorkflowFixture.store(engine1, """
          id: tick
          owner: it
          steps:
            - {id: a, type: noop}
          """);
      yearly = WorkflowFixture.await(schedules1.create("tick", new ScheduleRequest("0 0 0 1 1 *",
          Optional.of("UTC"), Optional.of("skip"), Optional.empty(), Map.of(), true)));
    } finally {
      WorkflowFixture.stop(node1);
    }
    // What the crashed scheduler left: the fire recorded (watermark past it), no instance yet.
    Instant scheduled = Instant.now().minusSeconds(5).truncatedTo(java.time.temporal.ChronoUnit.SECONDS);
    String requestId = WorkflowScheduler.requestId(yearly.scheduleId(), scheduled);
    String instanceId = WorkflowEngine.instanceIdFor("tick", requestId);
    try (Connection c = DriverManager.getConnection(db.jdbcUrl(), db.user(), db.password());
        var ps = c.prepareStatement("INSERT INTO workflow_schedule_fire (schedule_id, scheduled_time, instance_id,"
            + " fired_at) VALUES (?, ?, ?, ?)")) {
      ps.setString(1, yearly.scheduleId());
      ps.setTimestamp(2, java.sql.Timestamp.from(scheduled));
      ps.setString(3, instanceId);
      ps.setTimestamp(4, java.sql.Timestamp.from(scheduled.plusMillis(20)));
      ps.executeUpdate();
    }
    assertFalse(instances(db).containsKey(instanceId));

    ActorSystem<Void> node2 = WorkflowFixture.startSystem(config);
    try {
      WorkflowEngine engine2 = WorkflowEngine.start(node2);
      WorkflowSchedules schedules2 = WorkflowSchedules.start(node2);
      Eventually.await(Duration.ofSeconds(30), () -> WorkflowFixture.await(schedules2.fires("tick",
              yearly.scheduleId(), 10)).stream().anyMatch(f -> f.startedAt() != null),
          () -> "the recorded fire is started by the next scheduler");
      var fire = WorkflowFixture.await(schedules2.fires("tick", yearly.scheduleId(), 10)).get(0);
      assertEquals(instanceId, fire.instanceId());
      assertEquals(null, fire.startError());
      WorkflowInstance.InstanceView view = WorkflowFixture.view(engine2, instanceId).orElseThrow();
      assertEquals(Optional.of(requestId), view.requestId());
      assertEquals(Map.of(instanceId, "WorkflowInstance|" + instanceId), awaitStableInstances(db),
          "exactly the one instance the fire names");
    } finally {
      WorkflowFixture.stop(node2);
    }
  }

  /** Waits until at least {@code n} of the schedule's fires have started their instance. */
  private static void awaitFires(WorkflowSchedules schedules, ScheduleView s, int n, Duration timeout) {
    Eventually.await(timeout, () -> WorkflowFixture.await(schedules.fires("tick", s.scheduleId(), 1000)).stream()
            .filter(f -> f.startedAt() != null && f.startError() == null).count() >= n,
        () -> n + " started fires of " + s.scheduleId());
  }

  /** Pairs [last before, first after] of each run of missing seconds. */
  private static List<List<Instant>> gaps(List<Instant> sorted) {
    List<List<Instant>> out = new ArrayList<>();
    for (int i = 1; i < sorted.size(); i++) {
      if (!sorted.get(i).equals(sorted.get(i - 1).plusSeconds(1))) {
        out.add(List.of(sorted.get(i - 1), sorted.get(i)));
      }
    }
    return out;
  }

  /** Instance id -> persistence id of every WorkflowInstance in the journal, once two reads a second apart agree. */
  private static Map<String, String> awaitStableInstances(PostgresEndpoint db) {
    Map<String, String>[] last = new Map[] {Map.of()};
    // Two looks a second apart: the set is stable when they agree.
    Eventually.await(Duration.ofSeconds(20), Duration.ofSeconds(1), () -> {
      Map<String, String> now = instances(db);
      boolean stable = !now.isEmpty() && now.equals(last[0]);
      last[0] = now;
      return stable;
    }, () -> "the journal stops growing");
    return last[0];
  }

  private static Map<String, String> instances(PostgresEndpoint db) {
    Map<String, String> out = new TreeMap<>();
    try (Connection c = DriverManager.getConnection(db.jdbcUrl(), db.user(), db.password());
        Statement st = c.createStatement();
        ResultSet rs = st.executeQuery("SELECT DISTINCT persistence_id FROM event_journal"
            + " WHERE persistence_id LIKE 'WorkflowInstance|%'")) {
      while (rs.next()) {
        String pid = rs.getString(1);
        out.put(pid.substring("WorkflowInstance|".length()), pid);
      }
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
    return out;
  }
}
