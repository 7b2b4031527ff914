package io.fleetplane.jobs.workflow;

import static io.fleetplane.jobs.workflow.WorkflowFixture.awaitFinished;
import static io.fleetplane.jobs.workflow.WorkflowFixture.awaitView;
import static io.fleetplane.jobs.workflow.WorkflowFixture.history;
import static io.fleetplane.jobs.workflow.WorkflowFixture.step;
import static org.junit.jupiter.api.Assertions.assertEquals;

import akka.actor.typed.ActorSystem;
import akka.actor.typed.javadsl.Behaviors;
import com.fasterxml.jackson.databind.node.TextNode;
import io.fleetplane.jobs.workflow.WorkflowInstance.InstanceView;
import io.fleetplane.jobs.workflow.domain.InstanceStatus;
import io.fleetplane.jobs.workflow.domain.StepStatus;
import io.fleetplane.testkit.infra.PostgresEndpoint;
import io.fleetplane.testkit.infra.TestPostgres;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * Crash safety: the node's actor system stops mid-instance (twice), a new one starts on the same
 * database, and the instance finishes from its journal without re-running succeeded steps.
 */
class WorkflowRestartIT {

  @Test
  void anInstanceSurvivesTwoNodeRestartsWithoutRerunningSucceededSteps() throws Exception {
    PostgresEndpoint db = TestPostgres.newSchema();
    WorkflowFixture.migrate(db);
    // The HTTP server the steps call lives outside the nodes that get stopped.
    ActorSystem<Void> serverSystem = ActorSystem.create(Behaviors.empty(), "step-server");
    WorkflowFixture.StepServer server = new WorkflowFixture.StepServer(serverSystem);
    try {
      ActorSystem<Void> node1 = WorkflowFixture.startSystem(WorkflowFixture.config(db));
      WorkflowEngine engine1 = WorkflowEngine.start(node1);
      WorkflowFixture.store(engine1, """
          id: durable
          owner: it
          params: {before: x, after: y}
          steps:
            - {id: a, type: noop, params: {n: 1}}
            - {id: b, type: http, dependsOn: [a], params: {url: "${params.before}"}}
            - {id: c, type: wait, dependsOn: [b], params: {duration: 2s}}
            - id: loop
              type: foreach
              dependsOn: [c]
              foreach:
                items: "range(6)"
                as: i
                concurrency: 2
                steps:
                  - {id: nap, type: wait, params: {duration: 700ms}}
            - {id: d, type: http, dependsOn: [loop], params: {url: "${params.after}"}}
          """);
      String id = WorkflowFixture.start(engine1, "durable", Map.of(
          "before", TextNode.valueOf(server.url("/flaky/before?fail=0")),
          "after", TextNode.valueOf(server.url("/flaky/after?fail=0")))).instanceId();
      awaitView(engine1, id, Duration.ofSeconds(10), v -> step(v, "c").status() == StepStatus.RUNNING,
          "the durable wait is running");
      WorkflowFixture.stop(node1);

      ActorSystem<Void> node2 = WorkflowFixture.startSystem(WorkflowFixture.config(db));
      WorkflowEngine engine2 = WorkflowEngine.start(node2);
      InstanceView midLoop = awaitView(engine2, id, Duration.ofSeconds(20), v -> step(v, "loop").foreach()
          .map(l -> l.succeeded() >= 1 && l.succeeded() < 6 && !l.running().isEmpty()).orElse(false),
          "the loop is half done on the second node");
      WorkflowFixture.stop(node2);

      ActorSystem<Void> node3 = WorkflowFixture.startSystem(WorkflowFixture.config(db));
      try {
        WorkflowEngine engine3 = WorkflowEngine.start(node3);
        InstanceView done = awaitFinished(engine3, id, Duration.ofSeconds(30));
        assertEquals(InstanceStatus.SUCCEEDED, done.status(), done.toString());
        assertEquals(List.of("RUNNING#1", "SUCCEEDED#1"), history(done, "a"));
        assertEquals(List.of("RUNNING#1", "SUCCEEDED#1"), history(done, "b"));
        assertEquals(List.of("RUNNING#1", "SUCCEEDED#1"), history(done, "c"), "the timer resumed, not restarted");
        assertEquals(1, server.callsTo("/flaky/before"), "b succeeded before the restarts and never ran again");
        assertEquals(1, server.callsTo("/flaky/after"));
        var loop = step(done, "loop").foreach().orElseThrow();
        assertEquals(6, loop.succeeded());
        assertEquals(0, loop.failed());
        // Iterations that had finished before the second stop were not started again.
        for (int i = 0; i < 6; i++) {
          InstanceView iteration = WorkflowFixture.view(engine3, loop.iterationIdPrefix() + i).orElseThrow();
          assertEquals(List.of("RUNNING#1", "SUCCEEDED#1"), history(iteration, "nap"), "iteration " + i);
        }
        assertEquals(Optional.empty(), midLoop.steps().stream().filter(s -> s.status() == StepStatus.FAILED)
            .findFirst());
      } finally {
        WorkflowFixture.stop(node3);
      }
    } finally {
      server.close();
      WorkflowFixture.stop(serverSystem);
      TestPostgres.dropSchema(db);
    }
  }
}
