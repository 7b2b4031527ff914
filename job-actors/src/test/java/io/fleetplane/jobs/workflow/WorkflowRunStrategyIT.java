package io.fleetplane.jobs.workflow;

import static io.fleetplane.jobs.workflow.WorkflowFixture.await;
import static io.fleetplane.jobs.workflow.WorkflowFixture.awaitFinished;
import static io.fleetplane.jobs.workflow.WorkflowFixture.start;
import static io.fleetplane.jobs.workflow.WorkflowFixture.step;
import static io.fleetplane.jobs.workflow.WorkflowFixture.store;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.actor.typed.ActorSystem;
import io.fleetplane.jobs.workflow.WorkflowInstance.InstanceView;
import io.fleetplane.jobs.workflow.domain.InstanceStatus;
import io.fleetplane.jobs.workflow.domain.StepStatus;
import io.fleetplane.testkit.Eventually;
import io.fleetplane.testkit.infra.PostgresEndpoint;
import io.fleetplane.testkit.infra.TestPostgres;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** runStrategy: sequential, first-only and last-only through the real WorkflowRunGate and journal. */
class WorkflowRunStrategyIT {

  private static PostgresEndpoint db;
  private static ActorSystem<Void> system;
  private static WorkflowEngine engine;

  @BeforeAll
  static void up() {
    db = TestPostgres.newSchema();
    WorkflowFixture.migrate(db);
    Map<String, Object> config = new HashMap<>(WorkflowFixture.config(db));
    config.put("fleetplane.workflows.ask-timeout", "30s");
    system = WorkflowFixture.startSystem(config);
    engine = WorkflowEngine.start(system);
  }

  @AfterAll
  static void down() throws Exception {
    WorkflowFixture.stop(system);
    TestPostgres.dropSchema(db);
  }

  private static String definition(String id, String strategy, String duration) {
    return """
        id: %s
        owner: it
        runStrategy: %s
        steps:
          - {id: work, type: wait, params: {duration: %s}}
        """.formatted(id, strategy, duration);
  }

  @Test
  void sequentialRunsOneAfterTheOtherInArrivalOrder() {
    store(engine, definition("seq", "sequential", "300ms"));
    InstanceView first = start(engine, "seq", Map.of());
    InstanceView second = start(engine, "seq", Map.of());
    assertEquals(InstanceStatus.RUNNING, first.status());
    assertEquals(InstanceStatus.PAUSED, second.status(), "queued behind the first");
    InstanceView a = awaitFinished(engine, first.instanceId(), Duration.ofSeconds(20));
    InstanceView b = awaitFinished(engine, second.instanceId(), Duration.ofSeconds(20));
    assertEquals(InstanceStatus.SUCCEEDED, a.status());
    assertEquals(InstanceStatus.SUCCEEDED, b.status());
    assertFalse(step(b, "work").startedAt().isBefore(a.finishedAt()));
  }

  @Test
  void firstOnlyRejectsAStartWhileOneRunsAndAdmitsAgainAfterwards() {
    store(engine, definition("first", "first-only", "1s"));
    InstanceView first = await(engine.startInstance("first", Optional.empty(), Map.of(), Optional.of("r-1")));
    assertEquals(InstanceStatus.RUNNING, first.status());
    WorkflowEngine.RunRejectedException e = assertThrows(WorkflowEngine.RunRejectedException.class,
        () -> start(engine, "first", Map.of()));
    assertTrue(e.getMessage().contains(first.instanceId()), e.getMessage());
    // The same request again is the same instance, not a second run: not rejected.
    InstanceView same = await(engine.startInstance("first", Optional.empty(), Map.of(), Optional.of("r-1")));
    assertEquals(first.instanceId(), same.instanceId());
    assertEquals(InstanceStatus.SUCCEEDED, awaitFinished(engine, first.instanceId(), Duration.ofSeconds(20)).status());
    // Its slot was released: the next start runs at once.
    InstanceView next = start(engine, "first", Map.of());
    assertEquals(InstanceStatus.RUNNING, next.status());
    assertEquals(InstanceStatus.SUCCEEDED, awaitFinished(engine, next.instanceId(), Duration.ofSeconds(20)).status());
  }

  @Test
  void lastOnlyCancelsTheQueuedStartsSoTheLatestRunsNext() {
    store(engine, definition("last", "last-only", "1s"));
    InstanceView running = start(engine, "last", Map.of());
    InstanceView older = start(engine, "last", Map.of());
    InstanceView old = start(engine, "last", Map.of());
    InstanceView latest = start(engine, "last", Map.of());
    assertEquals(InstanceStatus.RUNNING, running.status());
    assertEquals(InstanceStatus.PAUSED, latest.status());
    for (InstanceView superseded : new InstanceView[] {older, old}) {
      InstanceView v = awaitFinished(engine, superseded.instanceId(), Duration.ofSeconds(20));
      assertEquals(InstanceStatus.CANCELLED, v.status(), v.toString());
      assertTrue(v.reason().contains("superseded by a later start"), v.reason());
      assertEquals(0, step(v, "work").attempt(), "a superseded start never ran its steps");
    }
    InstanceView a = awaitFinished(engine, running.instanceId(), Duration.ofSeconds(20));
    assertEquals(InstanceStatus.SUCCEEDED, a.status(), "the running one is not touched");
    InstanceView z = awaitFinished(engine, latest.instanceId(), Duration.ofSeconds(20));
    assertEquals(InstanceStatus.SUCCEEDED, z.status(), z.toString());
    assertEquals(StepStatus.SUCCEEDED, step(z, "work").status());
    assertFalse(step(z, "work").startedAt().isBefore(a.finishedAt()), "one at a time");
  }

  /**
   * The engine asks the gate, then starts the instance: the gate's last-only Cancel (and, later,
   * its Resume) can reach an instance that does not exist yet, which drops them. Reproduced
   * deterministically by doing the engine's two steps by hand with the gate's messages in between.
   */
  @Test
  void aStartSupersededBeforeItReachedItsActorEndsCancelledAndOneAdmittedBeforeItsStartRuns() {
    store(engine, definition("last-race", "last-only", "1s"));
    InstanceView running = start(engine, "last-race", Map.of());
    assertEquals(InstanceStatus.RUNNING, running.status());
    var gate = engine.sharding().entityRefFor(WorkflowRunGate.ENTITY_TYPE_KEY, "last-race");
    String early = "race-early-" + java.util.UUID.randomUUID();
    String late = "race-late-" + java.util.UUID.randomUUID();
    assertTrue(await(gate.<WorkflowRunGate.AdmitReply>ask(r -> new WorkflowRunGate.Admit(early, 1,
        io.fleetplane.jobs.workflow.domain.RunStrategy.LAST_ONLY, r), Duration.ofSeconds(10)))
        instanceof WorkflowRunGate.Queued);
    // Supersedes `early`, whose Cancel now reaches an instance that was never started.
    assertTrue(await(gate.<WorkflowRunGate.AdmitReply>ask(r -> new WorkflowRunGate.Admit(late, 1,
        io.fleetplane.jobs.workflow.domain.RunStrategy.LAST_ONLY, r), Duration.ofSeconds(10)))
        instanceof WorkflowRunGate.Queued);
    assertEquals(InstanceStatus.PAUSED, startQueued("last-race", early).status());

    InstanceView superseded = awaitFinished(engine, early, Duration.ofSeconds(20));
    assertEquals(InstanceStatus.CANCELLED, superseded.status(), superseded.toString());
    assertTrue(superseded.reason().contains("superseded by a later start"), superseded.reason());
    assertEquals(0, step(superseded, "work").attempt(), "a superseded start never ran its steps");

    // The running one finishes; the gate admits `late` and sends it a Resume before it exists.
    assertEquals(InstanceStatus.SUCCEEDED, awaitFinished(engine, running.instanceId(), Duration.ofSeconds(20))
        .status());
    Eventually.await(Duration.ofSeconds(10), () -> await(gate.<WorkflowRunGate.AdmitReply>ask(
        r -> new WorkflowRunGate.Locate(late, r), Duration.ofSeconds(10))) instanceof WorkflowRunGate.Admitted,
        () -> "the gate admits " + late);
    startQueued("last-race", late);
    InstanceView ran = awaitFinished(engine, late, Duration.ofSeconds(20));
    assertEquals(InstanceStatus.SUCCEEDED, ran.status(), ran.toString());
    assertEquals(StepStatus.SUCCEEDED, step(ran, "work").status());
  }

  /** The engine's Start of an instance the gate queued (what startInstance sends after Admit). */
  private static InstanceView startQueued(String workflowId, String instanceId) {
    var d = await(engine.store().get(workflowId, Optional.empty())).orElseThrow();
    WorkflowInstance.StartSpec spec = new WorkflowInstance.StartSpec(workflowId, d.version(),
        d.definition().steps(), d.definition().params(), Map.of(), Optional.empty(), Optional.empty(),
        java.time.Instant.now(), d.definition().timeout(), true, true);
    return await(engine.sharding().entityRefFor(WorkflowInstance.ENTITY_TYPE_KEY, instanceId)
        .<akka.pattern.StatusReply<InstanceView>>ask(r -> new WorkflowInstance.Start(spec, r), Duration.ofSeconds(10)))
        .getValue();
  }
}
