package io.fleetplane.jobs.workflow;

import static io.fleetplane.jobs.workflow.WorkflowFixture.start;
import static io.fleetplane.jobs.workflow.WorkflowFixture.step;
import static io.fleetplane.jobs.workflow.WorkflowFixture.store;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.actor.testkit.typed.javadsl.TestProbe;
import akka.actor.typed.ActorSystem;
import akka.cluster.sharding.typed.javadsl.EntityRef;
import akka.pattern.StatusReply;
import akka.persistence.testkit.JournalOperation;
import akka.persistence.testkit.PersistenceTestKitPlugin;
import akka.persistence.testkit.PersistenceTestKitSnapshotPlugin;
import akka.persistence.testkit.ProcessingPolicy;
import akka.persistence.testkit.ProcessingResult;
import akka.persistence.testkit.ProcessingSuccess;
import akka.persistence.testkit.StorageFailure;
import akka.persistence.testkit.WriteEvents;
import akka.persistence.testkit.javadsl.PersistenceTestKit;
import com.typesafe.config.ConfigFactory;
import io.fleetplane.jobs.workflow.WorkflowInstance.InstanceView;
import io.fleetplane.jobs.workflow.domain.InstanceStatus;
import io.fleetplane.jobs.workflow.domain.StepStatus;
import io.fleetplane.testkit.Eventually;
import io.fleetplane.testkit.infra.PostgresEndpoint;
import io.fleetplane.testkit.infra.TestPostgres;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A failed journal write of several events, for {@link WorkflowInstance}: the journal answers it
 * with one failure reply per event; the first restarts the instance with backoff, the others reach
 * the restarted incarnation late. Without {@code StaleWriteFailures} each of those stalled the
 * incarnation's stash, so a command sent during the backoff was not answered until some other
 * message arrived (for a workflow waiting on a long timer: never).
 *
 * <p>Definitions live in PostgreSQL (the engine's store); events go to Akka's in-memory journal,
 * whose write policy can fail one chosen write.
 */
class WorkflowFailedWriteIT {

  private static PostgresEndpoint db;
  private static ActorSystem<Void> system;
  private static WorkflowEngine engine;
  private static PersistenceTestKit journal;
  /** Fails, once, the next write of more than one event to the instance named here. */
  private static final AtomicReference<String> FAIL_NEXT_MULTI_EVENT_WRITE_OF = new AtomicReference<>();
  private static final AtomicReference<List<Object>> FAILED_WRITE = new AtomicReference<>();

  @BeforeAll
  static void up() {
    db = TestPostgres.newSchema();
    WorkflowFixture.migrate(db);
    system = WorkflowFixture.startSystem(ConfigFactory.parseMap(WorkflowFixture.config(db))
        .withFallback(PersistenceTestKitPlugin.config())
        .withFallback(PersistenceTestKitSnapshotPlugin.config()));
    journal = PersistenceTestKit.create(system);
    journal.withPolicy(new ProcessingPolicy<JournalOperation>() {
      @Override
      public ProcessingResult tryProcess(String persistenceId, JournalOperation op) {
        if (op instanceof WriteEvents write) {
          List<Object> events = List.copyOf(write.getBatch());
          String target = FAIL_NEXT_MULTI_EVENT_WRITE_OF.get();
          if (target != null && persistenceId.equals(target) && events.size() > 1
              && FAIL_NEXT_MULTI_EVENT_WRITE_OF.compareAndSet(target, null)) {
            FAILED_WRITE.set(events);
            return StorageFailure.create(new IOException("simulated journal failure"));
          }
        }
        return ProcessingSuccess.getInstance();
      }
    });
    engine = WorkflowEngine.start(system);
  }

  @AfterAll
  static void down() throws Exception {
    WorkflowFixture.stop(system);
    TestPostgres.dropSchema(db);
  }

  @Test
  void aCommandSentDuringTheBackoffAfterAFailedMultiEventWriteIsAnswered() {
    store(engine, """
        id: failed-write
        owner: it
        steps:
          - {id: a, type: wait, params: {duration: 1h}}
          - {id: b, type: wait, params: {duration: 1h}}
        """);
    InstanceView started = start(engine, "failed-write", Map.of());
    String id = started.instanceId();
    assertEquals(InstanceStatus.RUNNING, started.status());
    assertEquals(StepStatus.RUNNING, step(started, "a").status());
    assertEquals(StepStatus.RUNNING, step(started, "b").status());
    EntityRef<WorkflowInstance.Command> instance = engine.sharding().entityRefFor(WorkflowInstance.ENTITY_TYPE_KEY, id);
    String pid = WorkflowInstance.ENTITY_TYPE_KEY.name() + "|" + id;

    // Cancel persists three events in one write (both steps CANCELLED, the instance finished):
    // that write fails, so the instance restarts (backoff from 200 ms) and the journal's two
    // other failure replies follow it into the next incarnation.
    FAILED_WRITE.set(null);
    FAIL_NEXT_MULTI_EVENT_WRITE_OF.set(pid);
    TestProbe<StatusReply<InstanceView>> canceller = TestProbe.create(system);
    instance.tell(new WorkflowInstance.Cancel("first cancel", canceller.getRef()));
    Eventually.await(Duration.ofSeconds(10), () -> FAILED_WRITE.get() != null, () -> "the cancel's write failed");
    assertEquals(3, FAILED_WRITE.get().size(), "the failed write: " + FAILED_WRITE.get());

    // 100 ms: the instance has taken the failure and waits out its backoff (at least 200 ms);
    // a failed write answers nobody.
    canceller.expectNoMessage(Duration.ofMillis(100));
    // A read sent during the backoff. Nothing else will reach the instance (its steps wait an
    // hour), so only the instance itself can get this answered.
    TestProbe<WorkflowInstance.GetReply> reader = TestProbe.create(system);
    instance.tell(new WorkflowInstance.Get(reader.getRef()));
    InstanceView afterFailure = assertInstanceOf(WorkflowInstance.InstanceFound.class,
        reader.expectMessageClass(WorkflowInstance.GetReply.class, Duration.ofSeconds(10))).instance();
    assertEquals(InstanceStatus.RUNNING, afterFailure.status(), "the failed cancel changed nothing");
    assertEquals(StepStatus.RUNNING, step(afterFailure, "a").status());
    canceller.expectNoMessage(Duration.ofMillis(50));

    // The caller's retry is a new write under the new incarnation, and it succeeds.
    TestProbe<StatusReply<InstanceView>> retry = TestProbe.create(system);
    instance.tell(new WorkflowInstance.Cancel("second cancel", retry.getRef()));
    StatusReply<InstanceView> cancelled = retry.expectMessageClass(StatusReply.class, Duration.ofSeconds(10));
    assertTrue(cancelled.isSuccess(), cancelled.toString());
    assertEquals(InstanceStatus.CANCELLED, cancelled.getValue().status());
    assertEquals("second cancel", cancelled.getValue().reason());
    List<Object> events = journal.persistedInStorage(pid);
    assertEquals(1, events.stream().filter(e -> e instanceof WorkflowInstance.InstanceFinished).count(),
        "one InstanceFinished: " + events);
  }
  /**
   * The run gate persists several events at once too (a release that admits the next queued
   * instance), but sets no {@code onPersistFailure}: a failed write stops it (Akka's default)
   * instead of restarting it in place. The journal's other failure replies then go to the stopped
   * incarnation (dead letters), and sharding starts a fresh one for the next command, so no stale
   * reply can stall it. This pins that down: after a failed two-event release the gate answers.
   */
  @Test
  void theRunGateAnswersAfterAFailedMultiEventWrite() {
    store(engine, """
        id: gate-failed-write
        owner: it
        runStrategy: sequential
        steps:
          - {id: a, type: wait, params: {duration: 1h}}
        """);
    InstanceView running = start(engine, "gate-failed-write", Map.of());
    InstanceView queued = start(engine, "gate-failed-write", Map.of());
    assertEquals(InstanceStatus.RUNNING, running.status());
    assertEquals(InstanceStatus.PAUSED, queued.status(), "queued behind the running one");
    String gatePid = WorkflowRunGate.ENTITY_TYPE_KEY.name() + "|gate-failed-write";
    EntityRef<WorkflowRunGate.Command> gate = engine.sharding().entityRefFor(WorkflowRunGate.ENTITY_TYPE_KEY,
        "gate-failed-write");

    // Cancelling the running instance releases its slot: the gate persists the release and the
    // queued instance's admission in one write, which fails.
    FAILED_WRITE.set(null);
    FAIL_NEXT_MULTI_EVENT_WRITE_OF.set(gatePid);
    StatusReply<InstanceView> cancelled = WorkflowFixture.await(engine.cancel(running.instanceId(), "make room"));
    assertTrue(cancelled.isSuccess(), cancelled.toString());
    Eventually.await(Duration.ofSeconds(10), () -> FAILED_WRITE.get() != null, () -> "the gate's write failed");
    assertEquals(2, FAILED_WRITE.get().size(), "the failed write: " + FAILED_WRITE.get());

    // Once sharding has seen the stopped gate (1 s: a command sent before goes to the stopped
    // incarnation and is lost, a different weakness), the next command starts a new one, which
    // answers from the journal: the failed release changed nothing. One command only: any later
    // message would also have freed a stalled stash.
    TestProbe<WorkflowRunGate.AdmitReply> locator = TestProbe.create(system);
    locator.expectNoMessage(Duration.ofSeconds(1));
    gate.tell(new WorkflowRunGate.Locate(queued.instanceId(), locator.getRef()));
    assertEquals(new WorkflowRunGate.Queued(queued.instanceId(), 1),
        locator.expectMessageClass(WorkflowRunGate.AdmitReply.class, Duration.ofSeconds(10)));
  }
}
