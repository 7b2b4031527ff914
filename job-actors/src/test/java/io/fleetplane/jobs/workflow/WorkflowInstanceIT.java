package io.fleetplane.jobs.workflow;

import static io.fleetplane.jobs.workflow.WorkflowFixture.JSON;
import static io.fleetplane.jobs.workflow.WorkflowFixture.await;
import static io.fleetplane.jobs.workflow.WorkflowFixture.awaitFinished;
import static io.fleetplane.jobs.workflow.WorkflowFixture.awaitView;
import static io.fleetplane.jobs.workflow.WorkflowFixture.history;
import static io.fleetplane.jobs.workflow.WorkflowFixture.start;
import static io.fleetplane.jobs.workflow.WorkflowFixture.step;
import static io.fleetplane.jobs.workflow.WorkflowFixture.store;
import static io.fleetplane.jobs.workflow.WorkflowFixture.view;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.actor.typed.ActorSystem;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.TextNode;
import io.fleetplane.config.InvalidInputException;
import io.fleetplane.jobs.workflow.WorkflowInstance.InstanceView;
import io.fleetplane.jobs.workflow.domain.InstanceStatus;
import io.fleetplane.jobs.workflow.domain.StepStatus;
import io.fleetplane.testkit.infra.PostgresEndpoint;
import io.fleetplane.testkit.infra.TestPostgres;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** WorkflowInstance semantics end to end: real journal on PostgreSQL, real HTTP for http steps. */
class WorkflowInstanceIT {

  private static PostgresEndpoint db;
  private static ActorSystem<Void> system;
  private static WorkflowEngine engine;
  private static WorkflowFixture.StepServer server;

  @BeforeAll
  static void up() {
    db = TestPostgres.newSchema();
    WorkflowFixture.migrate(db);
    system = WorkflowFixture.startSystem(WorkflowFixture.config(db));
    engine = WorkflowEngine.start(system);
    server = new WorkflowFixture.StepServer(system);
  }

  @AfterAll
  static void down() throws Exception {
    server.close();
    WorkflowFixture.stop(system);
    TestPostgres.dropSchema(db);
  }

  @Test
  void theBackfillExampleRunsThreeIterations() throws Exception {
    store(engine, Files.readString(Path.of("../examples/backfill.yaml")));
    InstanceView started = start(engine, "backfill", Map.of());
    InstanceView done = awaitFinished(engine, started.instanceId(), Duration.ofSeconds(20));
    assertEquals(InstanceStatus.SUCCEEDED, done.status(), done.toString());
    var loop = step(done, "step2").foreach().orElseThrow();
    assertEquals(3, loop.total());
    assertEquals(3, loop.succeeded());
    assertEquals(List.of(), loop.running());
    // Each iteration is its own instance; the second got the second hour.
    InstanceView second = view(engine, loop.iterationIdPrefix() + 1).orElseThrow();
    assertEquals(InstanceStatus.SUCCEEDED, second.status());
    assertEquals("2024-01-01T01:00:00Z", step(second, "job1").outputs().get("date").asText());
    assertEquals("hour=2024-01-01T01:00:00Z", step(second, "job1").outputs().get("partition").asText());
    assertEquals(Optional.of(started.instanceId()), second.parentInstanceId());
  }

  @Test
  void diamondFanInAndConditionalSkip() {
    store(engine, """
        id: diamond
        owner: it
        params: {region: eu}
        steps:
          - {id: a, type: noop, params: {n: 1}}
          - {id: b, type: noop, dependsOn: [a], params: {n: "${steps.a.n + 1}"}}
          - {id: c, type: noop, dependsOn: [a], params: {n: "${steps.a.n + 2}"}}
          - {id: d, type: noop, dependsOn: [b, c], params: {sum: "${steps.b.n + steps.c.n}"}}
          - {id: us-only, type: noop, dependsOn: [d], if: "params.region == 'us'"}
          - {id: after-us, type: noop, dependsOn: [us-only]}
          - {id: e, type: noop, dependsOn: [d], if: "steps.d.sum == 5"}
        """);
    InstanceView done = awaitFinished(engine, start(engine, "diamond", Map.of()).instanceId(), Duration.ofSeconds(10));
    assertEquals(InstanceStatus.SUCCEEDED, done.status());
    assertEquals(5, step(done, "d").outputs().get("sum").asInt());
    assertEquals(StepStatus.SKIPPED, step(done, "us-only").status());
    assertEquals(StepStatus.SKIPPED, step(done, "after-us").status());
    assertTrue(step(done, "after-us").reason().contains("upstream step us-only was skipped"));
    assertEquals(StepStatus.SUCCEEDED, step(done, "e").status());
    assertEquals(List.of("RUNNING#1", "SUCCEEDED#1"), history(done, "d"));
    // d ran after both b and c: its RUNNING entry follows both their SUCCEEDED entries.
    List<String> order = done.timeline().stream().map(t -> t.stepId() + ":" + t.status()).toList();
    assertTrue(order.indexOf("d:RUNNING") > order.indexOf("b:SUCCEEDED"));
    assertTrue(order.indexOf("d:RUNNING") > order.indexOf("c:SUCCEEDED"));
  }

  @Test
  void failureRetriedThenSuccessWithAnIdempotencyKeyPerAttempt() {
    store(engine, """
        id: flaky
        owner: it
        params: {url: x}
        steps:
          - id: call
            type: http
            params: {url: "${params.url}"}
            retry: {maxAttempts: 3, backoff: 50ms}
          - {id: next, type: noop, dependsOn: [call], params: {calls: "${steps.call.calls}"}}
        """);
    InstanceView done = awaitFinished(engine, start(engine, "flaky",
        Map.of("url", TextNode.valueOf(server.url("/flaky/retry?fail=2")))).instanceId(), Duration.ofSeconds(10));
    assertEquals(InstanceStatus.SUCCEEDED, done.status(), done.toString());
    assertEquals(List.of("RUNNING#1", "RETRYING#1", "RUNNING#2", "RETRYING#2", "RUNNING#3", "SUCCEEDED#3"),
        history(done, "call"));
    assertEquals(3, step(done, "next").outputs().get("calls").asInt());
    List<String> keys = server.calls.stream().filter(c -> c.startsWith("/flaky/retry "))
        .map(c -> c.substring(c.indexOf(' ') + 1)).toList();
    assertEquals(List.of(done.instanceId() + ":call:1", done.instanceId() + ":call:2", done.instanceId() + ":call:3"),
        keys);
  }

  @Test
  void exhaustedRetriesFailTheInstanceAndDownstreamNeverRuns() {
    store(engine, """
        id: doomed
        owner: it
        params: {url: x}
        steps:
          - id: call
            type: http
            params: {url: "${params.url}"}
            retry: {maxAttempts: 2, backoff: 20ms}
          - {id: next, type: noop, dependsOn: [call]}
        """);
    InstanceView done = awaitFinished(engine, start(engine, "doomed",
        Map.of("url", TextNode.valueOf(server.url("/fail")))).instanceId(), Duration.ofSeconds(10));
    assertEquals(InstanceStatus.FAILED, done.status());
    assertEquals(StepStatus.FAILED, step(done, "call").status());
    assertEquals(2, step(done, "call").attempt());
    assertTrue(step(done, "call").reason().contains("answered 500"), step(done, "call").reason());
    assertEquals(StepStatus.CREATED, step(done, "next").status());
    assertEquals(List.of(), history(done, "next"));
  }

  @Test
  void restartFromFailedRerunsOnlyTheFailedStepWithTheNextAttempt() {
    store(engine, """
        id: restartable
        owner: it
        params: {url: x}
        steps:
          - {id: first, type: noop, params: {n: 1}}
          - {id: call, type: http, dependsOn: [first], params: {url: "${params.url}"}}
          - {id: after, type: noop, dependsOn: [call], params: {calls: "${steps.call.calls}"}}
        """);
    String id = start(engine, "restartable",
        Map.of("url", TextNode.valueOf(server.url("/flaky/restart?fail=1")))).instanceId();
    InstanceView failed = awaitFinished(engine, id, Duration.ofSeconds(10));
    assertEquals(InstanceStatus.FAILED, failed.status());
    assertTrue(await(engine.cancel(id, "x")).isError());
    var reply = await(engine.restartFailed(id));
    assertTrue(reply.isSuccess(), () -> String.valueOf(reply));
    InstanceView done = awaitFinished(engine, id, Duration.ofSeconds(10));
    assertEquals(InstanceStatus.SUCCEEDED, done.status(), done.toString());
    assertEquals(List.of("RUNNING#1", "SUCCEEDED#1"), history(done, "first"), "succeeded steps are not re-run");
    assertEquals(List.of("RUNNING#1", "FAILED#1", "CREATED#1", "RUNNING#2", "SUCCEEDED#2"), history(done, "call"));
    assertEquals(2, step(done, "after").outputs().get("calls").asInt());
    assertTrue(server.calls.contains("/flaky/restart " + id + ":call:2"), server.calls.toString());
    assertTrue(await(engine.restartFailed(id)).isError(), "only a failed instance restarts");
  }

  @Test
  void pausedInstancesFinishRunningStepsButStartNothingUntilResumed() {
    store(engine, """
        id: pausable
        owner: it
        steps:
          - {id: a, type: wait, params: {duration: 400ms}}
          - {id: b, type: noop, dependsOn: [a]}
        """);
    String id = start(engine, "pausable", Map.of()).instanceId();
    var paused = await(engine.pause(id));
    assertTrue(paused.isSuccess());
    assertEquals(InstanceStatus.PAUSED, paused.getValue().status());
    assertTrue(await(engine.pause(id)).isError(), "already paused");
    InstanceView whilePaused = awaitView(engine, id, Duration.ofSeconds(10),
        v -> step(v, "a").status() == StepStatus.SUCCEEDED, "the running step finishes while paused");
    // b became ready in the same event that finished a; paused, it did not start.
    assertEquals(StepStatus.CREATED, step(whilePaused, "b").status());
    assertEquals(InstanceStatus.PAUSED, whilePaused.status());
    assertTrue(await(engine.resume(id)).isSuccess());
    InstanceView done = awaitFinished(engine, id, Duration.ofSeconds(10));
    assertEquals(InstanceStatus.SUCCEEDED, done.status());
    List<String> instanceEvents = done.timeline().stream().filter(t -> t.stepId() == null).map(t -> t.status()).toList();
    assertEquals(List.of("STARTED", "PAUSED", "RESUMED", "SUCCEEDED"), instanceEvents);
    assertTrue(await(engine.resume(id)).isError(), "a finished instance does not resume");
  }

  @Test
  void userErrorsAreNotRetriedWhenThePolicyRetriesOnlyPlatformErrors() {
    store(engine, """
        id: user-error
        owner: it
        params: {url: x}
        steps:
          - id: call
            type: http
            params: {url: "${params.url}"}
            retry: {maxAttempts: 5, backoff: 20ms, on: [platform]}
        """);
    InstanceView done = awaitFinished(engine, start(engine, "user-error",
        Map.of("url", TextNode.valueOf(server.url("/bad")))).instanceId(), Duration.ofSeconds(10));
    assertEquals(InstanceStatus.FAILED, done.status());
    assertEquals(1, step(done, "call").attempt());
    assertEquals(400, step(done, "call").outputs().get("status").asInt(), "the error response is kept");
    assertEquals(1, server.callsTo("/bad"));
  }

  @Test
  void aStepThatOverrunsItsTimeoutIsTimedOut() {
    store(engine, """
        id: slow
        owner: it
        steps:
          - {id: sleep, type: wait, params: {duration: 1m}, timeout: 200ms}
        """);
    InstanceView done = awaitFinished(engine, start(engine, "slow", Map.of()).instanceId(), Duration.ofSeconds(10));
    assertEquals(InstanceStatus.FAILED, done.status());
    assertEquals(StepStatus.TIMED_OUT, step(done, "sleep").status());
    assertTrue(step(done, "sleep").reason().contains("timed out after PT0.2S"));
  }

  @Test
  void anInstanceOverItsOwnTimeLimitFailsAndCancelsWhatRuns() {
    store(engine, """
        id: bounded
        owner: it
        timeout: 300ms
        steps:
          - {id: quick, type: noop}
          - {id: sleep, type: wait, dependsOn: [quick], params: {duration: 1m}}
          - {id: never, type: noop, dependsOn: [sleep]}
        """);
    InstanceView done = awaitFinished(engine, start(engine, "bounded", Map.of()).instanceId(), Duration.ofSeconds(10));
    assertEquals(InstanceStatus.FAILED, done.status());
    assertTrue(done.reason().contains("instance timed out after PT0.3S"), done.reason());
    assertEquals(StepStatus.SUCCEEDED, step(done, "quick").status());
    assertEquals(StepStatus.CANCELLED, step(done, "sleep").status());
    assertEquals(StepStatus.CANCELLED, step(done, "never").status());
  }

  @Test
  void maxRunningInstancesQueuesTheRestAndRunsThemInArrivalOrder() {
    store(engine, """
        id: one-at-a-time
        owner: it
        maxRunningInstances: 1
        steps:
          - {id: work, type: wait, params: {duration: 300ms}}
        """);
    InstanceView first = start(engine, "one-at-a-time", Map.of());
    InstanceView second = start(engine, "one-at-a-time", Map.of());
    InstanceView third = start(engine, "one-at-a-time", Map.of());
    assertEquals(InstanceStatus.RUNNING, first.status());
    assertEquals(InstanceStatus.PAUSED, second.status(), "queued behind the first");
    assertEquals(StepStatus.CREATED, step(second, "work").status());
    assertEquals(InstanceStatus.PAUSED, third.status());
    InstanceView a = awaitFinished(engine, first.instanceId(), Duration.ofSeconds(10));
    InstanceView b = awaitFinished(engine, second.instanceId(), Duration.ofSeconds(10));
    InstanceView c = awaitFinished(engine, third.instanceId(), Duration.ofSeconds(10));
    for (InstanceView v : List.of(a, b, c)) {
      assertEquals(InstanceStatus.SUCCEEDED, v.status());
    }
    // Never two at once: each one's work started after the previous one finished.
    assertFalse(step(b, "work").startedAt().isBefore(a.finishedAt()), a.finishedAt() + " / " + step(b, "work"));
    assertFalse(step(c, "work").startedAt().isBefore(b.finishedAt()));
  }

  @Test
  void cancelStopsRunningStepsAndChildren() {
    store(engine, """
        id: cancellable
        owner: it
        steps:
          - id: loop
            type: foreach
            foreach:
              items: "range(5)"
              as: i
              concurrency: 2
              steps:
                - {id: sleep, type: wait, params: {duration: 1m}}
          - {id: after, type: noop, dependsOn: [loop]}
        """);
    InstanceView started = start(engine, "cancellable", Map.of());
    InstanceView running = awaitView(engine, started.instanceId(), Duration.ofSeconds(10),
        v -> step(v, "loop").foreach().map(l -> l.running().size() == 2).orElse(false), "two iterations run");
    String firstChild = step(running, "loop").foreach().orElseThrow().iterationIdPrefix() + 0;
    awaitView(engine, firstChild, Duration.ofSeconds(10), v -> step(v, "sleep").status() == StepStatus.RUNNING,
        "the first iteration waits");
    var reply = await(engine.cancel(started.instanceId(), "operator said so"));
    assertTrue(reply.isSuccess());
    InstanceView cancelled = view(engine, started.instanceId()).orElseThrow();
    assertEquals(InstanceStatus.CANCELLED, cancelled.status());
    assertEquals(StepStatus.CANCELLED, step(cancelled, "loop").status());
    assertEquals(StepStatus.CANCELLED, step(cancelled, "after").status());
    awaitView(engine, firstChild, Duration.ofSeconds(10), v -> v.status() == InstanceStatus.CANCELLED,
        "the running iteration is cancelled too");
    assertTrue(await(engine.cancel(started.instanceId(), "again")).isError(), "a finished instance says so");
  }

  @Test
  void subworkflowWhoseIdComesFromAParameter() {
    store(engine, """
        id: child-wf
        owner: it
        params: {x: 0}
        steps:
          - {id: double, type: noop, params: {y: "${params.x * 2}"}}
        """);
    store(engine, """
        id: parent-wf
        owner: it
        params: {which: none}
        steps:
          - id: sub
            type: subworkflow
            params: {workflowId: "${params.which}", params: {x: 21}}
          - {id: use, type: noop, dependsOn: [sub], params: {got: "${steps.sub.steps.double.y}"}}
        """);
    InstanceView done = awaitFinished(engine, start(engine, "parent-wf",
        Map.of("which", TextNode.valueOf("child-wf"))).instanceId(), Duration.ofSeconds(10));
    assertEquals(InstanceStatus.SUCCEEDED, done.status(), done.toString());
    assertEquals(42, step(done, "use").outputs().get("got").asInt());
    String childId = step(done, "sub").childInstanceId().orElseThrow();
    InstanceView child = view(engine, childId).orElseThrow();
    assertEquals("child-wf", child.workflowId());
    assertEquals(InstanceStatus.SUCCEEDED, child.status());

    InstanceView missing = awaitFinished(engine, start(engine, "parent-wf",
        Map.of("which", TextNode.valueOf("no-such-wf"))).instanceId(), Duration.ofSeconds(10));
    assertEquals(InstanceStatus.FAILED, missing.status());
    assertTrue(step(missing, "sub").reason().contains("no-such-wf does not exist"), step(missing, "sub").reason());
  }

  @Test
  void nestedForeachTenByTen() {
    store(engine, """
        id: grid
        owner: it
        steps:
          - id: rows
            type: foreach
            foreach:
              items: "range(10)"
              as: row
              concurrency: 5
              steps:
                - id: cols
                  type: foreach
                  foreach:
                    items: "range(10)"
                    as: col
                    concurrency: 10
                    steps:
                      - {id: cell, type: noop, params: {v: "${row * 10 + col}"}}
        """);
    InstanceView done = awaitFinished(engine, start(engine, "grid", Map.of()).instanceId(), Duration.ofSeconds(30));
    assertEquals(InstanceStatus.SUCCEEDED, done.status(), done.toString());
    var rows = step(done, "rows").foreach().orElseThrow();
    assertEquals(10, rows.succeeded());
    InstanceView row7 = view(engine, rows.iterationIdPrefix() + 7).orElseThrow();
    var cols = step(row7, "cols").foreach().orElseThrow();
    assertEquals(10, cols.succeeded());
    InstanceView cell73 = view(engine, cols.iterationIdPrefix() + 3).orElseThrow();
    assertEquals(73, step(cell73, "cell").outputs().get("v").asInt());
  }

  @Test
  void startingTwiceWithTheSameRequestIdStartsOneInstance() {
    store(engine, """
        id: once
        owner: it
        params: {n: 1}
        steps:
          - {id: a, type: noop, params: {n: "${params.n}"}}
        """);
    Map<String, JsonNode> params = Map.of("n", JSON.getNodeFactory().numberNode(7));
    InstanceView first = await(engine.startInstance("once", Optional.empty(), params, Optional.of("trigger-1")));
    InstanceView again = await(engine.startInstance("once", Optional.empty(), params, Optional.of("trigger-1")));
    InstanceView other = await(engine.startInstance("once", Optional.empty(), params, Optional.of("trigger-2")));
    assertEquals(first.instanceId(), again.instanceId());
    assertNotEquals(first.instanceId(), other.instanceId());
    InstanceView done = awaitFinished(engine, first.instanceId(), Duration.ofSeconds(10));
    assertEquals(1, done.timeline().stream().filter(t -> t.stepId() == null && t.status().equals("STARTED")).count());
    assertEquals(Optional.of("trigger-1"), done.requestId());
  }

  @Test
  void instancesPinTheVersionTheyStartedWith() {
    store(engine, """
        id: pinned
        owner: it
        steps:
          - {id: a, type: wait, params: {duration: 300ms}}
          - {id: b, type: noop, dependsOn: [a], params: {v: 1}}
        """);
    InstanceView v1 = start(engine, "pinned", Map.of());
    store(engine, """
        id: pinned
        owner: it
        steps:
          - {id: a, type: noop, params: {v: 2}}
        """);
    InstanceView done = awaitFinished(engine, v1.instanceId(), Duration.ofSeconds(10));
    assertEquals(1, done.version());
    assertEquals(1, step(done, "b").outputs().get("v").asInt());
    assertEquals(2, start(engine, "pinned", Map.of()).version());
  }

  @Test
  void undeclaredParametersAndUnknownWorkflowsAreRejected() {
    store(engine, """
        id: strict
        owner: it
        params: {a: 1}
        steps:
          - {id: s, type: noop}
        """);
    InvalidInputException e = assertThrows(InvalidInputException.class,
        () -> start(engine, "strict", Map.of("b", TextNode.valueOf("x"))));
    assertTrue(e.getMessage().contains("[b]"), e.getMessage());
    assertThrows(WorkflowEngine.WorkflowNotFoundException.class, () -> start(engine, "absent", Map.of()));
    assertFalse(view(engine, "no-such-instance").isPresent());
  }
}
