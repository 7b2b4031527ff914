package io.fleetplane.jobs.workflow;

import static io.fleetplane.jobs.workflow.WorkflowFixture.await;
import static io.fleetplane.jobs.workflow.WorkflowFixture.awaitFinished;
import static io.fleetplane.jobs.workflow.WorkflowFixture.awaitView;
import static io.fleetplane.jobs.workflow.WorkflowFixture.history;
import static io.fleetplane.jobs.workflow.WorkflowFixture.start;
import static io.fleetplane.jobs.workflow.WorkflowFixture.step;
import static io.fleetplane.jobs.workflow.WorkflowFixture.store;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.actor.typed.ActorSystem;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.TextNode;
import io.fleetplane.jobs.workflow.WorkflowInstance.InstanceView;
import io.fleetplane.jobs.workflow.WorkflowInstance.TimelineEntry;
import io.fleetplane.jobs.workflow.domain.InstanceStatus;
import io.fleetplane.jobs.workflow.domain.StepStatus;
import io.fleetplane.jobs.workflow.signal.SignalStore;
import io.fleetplane.jobs.workflow.signal.WorkflowSignals;
import io.fleetplane.testkit.infra.PostgresEndpoint;
import io.fleetplane.testkit.infra.TestPostgres;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Step gates against a real journal and signal store: signals that arrived before the step became
 * ready count, later ones wake it at once (the safety-net poll is set to an hour here, so only
 * publish's wake-up can open a gate within the test's time), non-matching ones do not open it,
 * one signal opens it, timeouts apply while waiting, and a node restart while waiting loses nothing.
 */
class WorkflowGateIT {

  private static PostgresEndpoint db;
  private static ActorSystem<Void> system;
  private static WorkflowEngine engine;
  private static WorkflowSignals signals;

  static Map<String, Object> config(PostgresEndpoint db) {
    Map<String, Object> config = new HashMap<>(WorkflowFixture.config(db));
    config.put("fleetplane.workflows.ask-timeout", "30s");
    config.put("fleetplane.workflows.signals.gate-poll-interval", "1h");
    return config;
  }

  @BeforeAll
  static void up() {
    db = TestPostgres.newSchema();
    WorkflowFixture.migrate(db);
    system = WorkflowFixture.startSystem(config(db));
    engine = WorkflowEngine.start(system);
    signals = WorkflowSignals.start(system);
    store(engine, """
        id: gated
        owner: it
        params: {table: orders, day: "2026-11-23", pause: 10ms}
        steps:
          - {id: first, type: wait, params: {duration: "${params.pause}"}}
          - id: load
            type: noop
            dependsOn: [first]
            timeout: 60s
            gate:
              signal: table-landed
              condition: "signal.params.table == params.table && signal.params.date == params.day"
            params: {loaded: "${params.table}"}
          - {id: after, type: noop, dependsOn: [load], params: {got: "${steps.load.loaded}"}}
        """);
  }

  @AfterAll
  static void down() throws Exception {
    WorkflowFixture.stop(system);
    TestPostgres.dropSchema(db);
  }

  private static Map<String, JsonNode> params(String... kv) {
    Map<String, JsonNode> m = new HashMap<>();
    for (int i = 0; i < kv.length; i += 2) {
      m.put(kv[i], TextNode.valueOf(kv[i + 1]));
    }
    return m;
  }

  private static WorkflowSignals.Published publish(String id, String name, String... kv) {
    return await(signals.publish(signals.signal(Optional.of(id), name, params(kv), Optional.empty(), "it")));
  }

  private static InstanceView awaitWaiting(String instanceId, String stepId) {
    return awaitView(engine, instanceId, Duration.ofSeconds(20), v -> step(v, stepId).status() == StepStatus.RUNNING
        && step(v, stepId).reason().startsWith("waiting for signal"), stepId + " waits on its gate");
  }

  private static List<TimelineEntry> gateEntries(InstanceView v, String stepId) {
    return v.timeline().stream().filter(t -> stepId.equals(t.stepId()) && t.status().equals("GATE_OPENED")).toList();
  }

  @Test
  void aSignalThatArrivedBeforeTheStepBecameReadyOpensTheGate() {
    // "first" waits 3 s; the signal lands meanwhile, before "load" is ready.
    String id = start(engine, "gated", params("table", "before", "pause", "3s")).instanceId();
    InstanceView early = WorkflowFixture.view(engine, id).orElseThrow();
    assertEquals(StepStatus.CREATED, step(early, "load").status(), early.toString());
    publish("landed-before-1", "table-landed", "table", "before", "date", "2026-11-23");
    assertEquals(StepStatus.CREATED, step(WorkflowFixture.view(engine, id).orElseThrow(), "load").status(),
        "the signal is recorded before the gated step is ready");

    InstanceView done = awaitFinished(engine, id, Duration.ofSeconds(30));
    assertEquals(InstanceStatus.SUCCEEDED, done.status(), done.toString());
    assertEquals(List.of("RUNNING#1", "GATE_OPENED#1", "RUNNING#1", "SUCCEEDED#1"), history(done, "load"));
    assertEquals("signal landed-before-1", gateEntries(done, "load").get(0).reason());
    assertEquals("before", step(done, "after").outputs().get("got").asText());

    var lineage = await(signals.lineage("landed-before-1"));
    assertEquals(List.of(id + "/load"), lineage.unblocked().stream().map(g -> g.instanceId() + "/" + g.stepId())
        .toList());
    assertEquals(List.of("landed-before-1"), await(signals.signalsOf(id)).unblockedBy().stream()
        .map(SignalStore.GateOpening::signalId).toList());
  }

  @Test
  void aSignalArrivingWhileTheStepWaitsWakesItAndNonMatchingOnesDoNot() {
    String id = start(engine, "gated", params("table", "after")).instanceId();
    InstanceView waiting = awaitWaiting(id, "load");
    assertEquals(List.of("RUNNING#1"), history(waiting, "load"));
    assertEquals("waiting for signal table-landed", step(waiting, "load").reason());

    // Wrong table, wrong date, wrong name: none opens the gate. Then two matching ones at once.
    publish("after-wrong-table", "table-landed", "table", "other", "date", "2026-11-23");
    publish("after-wrong-date", "table-landed", "table", "after", "date", "2026-11-22");
    publish("after-wrong-name", "table-arrived", "table", "after", "date", "2026-11-23");
    // A signal without the params the condition reads does not match (and does not break the gate).
    publish("after-no-params", "table-landed");
    assertEquals(StepStatus.RUNNING, step(WorkflowFixture.view(engine, id).orElseThrow(), "load").status());
    var first = signals.publish(signals.signal(Optional.of("after-match-1"), "table-landed",
        params("table", "after", "date", "2026-11-23"), Optional.empty(), "it"));
    var second = signals.publish(signals.signal(Optional.of("after-match-2"), "table-landed",
        params("table", "after", "date", "2026-11-23"), Optional.empty(), "it"));
    await(first);
    await(second);

    // The poll is an hour: only publish's wake-up can have opened it this soon.
    InstanceView done = awaitFinished(engine, id, Duration.ofSeconds(20));
    assertEquals(InstanceStatus.SUCCEEDED, done.status(), done.toString());
    assertEquals(List.of("RUNNING#1", "GATE_OPENED#1", "RUNNING#1", "SUCCEEDED#1"), history(done, "load"));
    String opener = gateEntries(done, "load").get(0).reason().substring("signal ".length());
    assertTrue(opener.equals("after-match-1") || opener.equals("after-match-2"), opener);
    // Exactly one recorded signal opened the gate.
    int openings = 0;
    for (String s : List.of("after-wrong-table", "after-wrong-date", "after-wrong-name", "after-no-params",
        "after-match-1", "after-match-2")) {
      long n = await(signals.lineage(s)).unblocked().stream().filter(g -> g.instanceId().equals(id)).count();
      if (!s.equals(opener)) {
        assertEquals(0, n, s + " opened nothing");
      }
      openings += (int) n;
    }
    assertEquals(1, openings);
  }

  @Test
  void theStepTimeoutAppliesWhileWaitingAndASignalBeforeTheRunDoesNotCountWithoutLookback() {
    store(engine, """
        id: gated-timeout
        owner: it
        steps:
          - {id: load, type: noop, timeout: 2s, gate: {signal: never-matching}}
        """);
    store(engine, """
        id: gated-lookback
        owner: it
        steps:
          - {id: load, type: noop, gate: {signal: old-news, lookback: 1h}}
        """);
    // Published before either instance runs: counts only for the gate with a lookback.
    publish("old-news-1", "old-news");
    publish("never-matching-old", "never-matching");

    String timesOut = start(engine, "gated-timeout", Map.of()).instanceId();
    String looksBack = start(engine, "gated-lookback", Map.of()).instanceId();
    InstanceView back = awaitFinished(engine, looksBack, Duration.ofSeconds(20));
    assertEquals(InstanceStatus.SUCCEEDED, back.status(), back.toString());
    assertEquals("signal old-news-1", gateEntries(back, "load").get(0).reason());

    InstanceView timedOut = awaitFinished(engine, timesOut, Duration.ofSeconds(20));
    assertEquals(InstanceStatus.FAILED, timedOut.status(), timedOut.toString());
    assertEquals(List.of("RUNNING#1", "TIMED_OUT#1"), history(timedOut, "load"));
    assertEquals(List.of(), await(signals.signalsOf(timesOut)).unblockedBy());
  }

  @Test
  void aNodeRestartWhileWaitingKeepsTheGatesAndAClaimMadeBeforeTheCrashIsHonoured() throws Exception {
    PostgresEndpoint own = TestPostgres.newSchema();
    WorkflowFixture.migrate(own);
    SignalStore direct = new SignalStore(new io.fleetplane.persistence.PersistenceSettings(own.jdbcUrl(), own.user(),
        own.password(), 2, true, Duration.ofSeconds(10)), 2);
    try {
      ActorSystem<Void> node1 = WorkflowFixture.startSystem(config(own));
      String id;
      try {
        WorkflowEngine engine1 = WorkflowEngine.start(node1);
        WorkflowSignals.start(node1);
        store(engine1, """
            id: gated-restart
            owner: it
            steps:
              - {id: a, type: noop}
              - {id: load, type: noop, dependsOn: [a], gate: {signal: restart-landed}}
              - {id: claimed, type: noop, dependsOn: [a], gate: {signal: restart-other}}
            """);
        id = start(engine1, "gated-restart", Map.of()).instanceId();
        awaitView(engine1, id, Duration.ofSeconds(20), v -> step(v, "load").status() == StepStatus.RUNNING
            && step(v, "claimed").status() == StepStatus.RUNNING, "both gated steps wait");
        // What a crash between the claim and its journal write leaves behind: "claimed" held by a
        // signal although an older match exists. The claim is made while no restart-other signal
        // exists (so node 1's own check cannot have claimed another), then the signals are stored
        // without publish (nothing wakes node 1).
        String instance = id;
        io.fleetplane.testkit.Eventually.await(Duration.ofSeconds(20),
            () -> await(direct.claimGate(instance, "claimed", "pre-claimed")).equals(Optional.of("pre-claimed")),
            () -> "the gate of 'claimed' is registered and claimed");
        java.time.Instant now = java.time.Instant.now();
        await(direct.insert(new SignalStore.Signal("older-match", "restart-other", Map.of(), now, "it")));
        await(direct.insert(new SignalStore.Signal("pre-claimed", "restart-other", Map.of(), now, "it")));
      } finally {
        WorkflowFixture.stop(node1);
      }

      ActorSystem<Void> node2 = WorkflowFixture.startSystem(config(own));
      try {
        WorkflowEngine engine2 = WorkflowEngine.start(node2);
        WorkflowSignals signals2 = WorkflowSignals.start(node2);
        // The engine wakes the instance from workflow_instance_active; recovery registers its gates
        // again, finds the claim and opens "claimed" with it, not with the older match.
        InstanceView recovered = awaitView(engine2, id, Duration.ofSeconds(30),
            v -> step(v, "claimed").status() == StepStatus.SUCCEEDED, "claimed opens after the restart");
        assertEquals("signal pre-claimed", gateEntries(recovered, "claimed").get(0).reason());
        assertEquals(StepStatus.RUNNING, step(recovered, "load").status(), "load still waits");
        assertEquals(List.of("RUNNING#1"), history(recovered, "load"));
        await(signals2.publish(signals2.signal(Optional.of("restart-1"), "restart-landed", Map.of(), Optional.empty(),
            "it")));
        InstanceView done = awaitFinished(engine2, id, Duration.ofSeconds(20));
        assertEquals(InstanceStatus.SUCCEEDED, done.status(), done.toString());
        assertEquals(List.of("RUNNING#1", "GATE_OPENED#1", "RUNNING#1", "SUCCEEDED#1"), history(done, "load"));
        assertEquals(List.of("RUNNING#1", "GATE_OPENED#1", "RUNNING#1", "SUCCEEDED#1"), history(done, "claimed"));
        assertEquals(List.of("RUNNING#1", "SUCCEEDED#1"), history(done, "a"), "a did not run again");
        assertEquals(List.of("pre-claimed", "restart-1"), await(signals2.signalsOf(id)).unblockedBy().stream()
            .map(SignalStore.GateOpening::signalId).sorted().toList());
        assertEquals(List.of(), await(signals2.lineage("older-match")).unblocked());
      } finally {
        WorkflowFixture.stop(node2);
      }
    } finally {
      direct.close();
      TestPostgres.dropSchema(own);
    }
  }
}
