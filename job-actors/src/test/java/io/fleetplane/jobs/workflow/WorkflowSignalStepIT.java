package io.fleetplane.jobs.workflow;

import static io.fleetplane.jobs.workflow.WorkflowFixture.await;
import static io.fleetplane.jobs.workflow.WorkflowFixture.awaitFinished;
import static io.fleetplane.jobs.workflow.WorkflowFixture.start;
import static io.fleetplane.jobs.workflow.WorkflowFixture.step;
import static io.fleetplane.jobs.workflow.WorkflowFixture.store;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.actor.typed.ActorSystem;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.TextNode;
import io.fleetplane.jobs.workflow.WorkflowInstance.InstanceView;
import io.fleetplane.jobs.workflow.domain.InstanceStatus;
import io.fleetplane.jobs.workflow.signal.WorkflowSignals;
import io.fleetplane.testkit.infra.PostgresEndpoint;
import io.fleetplane.testkit.infra.TestPostgres;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The {@code signal} step: publishes through WorkflowSignals; subscribed workflows start once per signal id. */
class WorkflowSignalStepIT {

  private static PostgresEndpoint db;
  private static ActorSystem<Void> system;
  private static WorkflowEngine engine;
  private static WorkflowSignals signals;
  private static WorkflowFixture.StepServer server;

  @BeforeAll
  static void up() {
    db = TestPostgres.newSchema();
    WorkflowFixture.migrate(db);
    Map<String, Object> config = new java.util.HashMap<>(WorkflowFixture.config(db));
    // The first start on a cold node (sharding, journal pool) took over 10 s on this shared 2-core machine.
    config.put("fleetplane.workflows.ask-timeout", "30s");
    system = WorkflowFixture.startSystem(config);
    engine = WorkflowEngine.start(system);
    signals = WorkflowSignals.start(system);
    server = new WorkflowFixture.StepServer(system);
  }

  @AfterAll
  static void down() throws Exception {
    server.close();
    WorkflowFixture.stop(system);
    TestPostgres.dropSchema(db);
  }

  @Test
  void aSignalStepStartsTheSubscribedWorkflowExactlyOnceEvenWhenDispatchedTwice() {
    // B counts its runs as calls to the test server: a second start would be a second call.
    store(engine, """
        id: signal-b
        owner: it
        params: {order: 0, url: x}
        steps:
          - {id: call, type: http, params: {url: "${params.url}"}}
        """);
    await(signals.subscribe("signal-b", "orders.ready", "params.order > 0",
        Map.of("order", TextNode.valueOf("${params.order}"), "url", TextNode.valueOf(server.url("/ok")))));
    store(engine, """
        id: signal-a
        owner: it
        params: {order: 7}
        steps:
          - {id: prepare, type: noop, params: {order: "${params.order}"}}
          - id: tell
            type: signal
            dependsOn: [prepare]
            params: {name: orders.ready, params: {order: "${steps.prepare.order}"}}
          - {id: after, type: noop, dependsOn: [tell], params: {started: "${steps.tell.triggered}"}}
        """);
    InstanceView a = awaitFinished(engine, start(engine, "signal-a", Map.of()).instanceId(), Duration.ofSeconds(20));
    assertEquals(InstanceStatus.SUCCEEDED, a.status(), a.toString());
    JsonNode out = step(a, "tell").outputs();
    String signalId = WorkflowInstance.signalIdFor(a.instanceId(), "tell", 1);
    assertEquals(signalId, out.get("signalId").asText(), out.toString());
    assertEquals(1, out.get("triggered").size(), out.toString());
    String b = out.get("triggered").get(0).asText();
    assertEquals(b, step(a, "after").outputs().get("started").get(0).asText(), "outputs feed downstream steps");
    InstanceView bDone = awaitFinished(engine, b, Duration.ofSeconds(20));
    assertEquals(InstanceStatus.SUCCEEDED, bDone.status(), bDone.toString());
    assertEquals(7, bDone.params().get("order").asInt());

    // A re-dispatch of the same attempt (what recovery does after a crash mid-step) publishes the
    // same derived signal id again: a duplicate, naming the same single instance of B.
    var again = await(signals.publish(signals.signal(Optional.of(signalId), "orders.ready",
        Map.of("order", TextNode.valueOf("7")), Optional.empty(), "workflow")));
    assertTrue(again.duplicate());
    assertEquals(List.of(b), again.triggered().stream().map(t -> t.instanceId()).toList());
    awaitFinished(engine, b, Duration.ofSeconds(10));
    assertEquals(1, server.callsTo("/ok"), server.calls.toString());
  }

  @Test
  void anExplicitSignalIdTemplateAndABadNameFailAsUserErrors() {
    store(engine, """
        id: signal-explicit
        owner: it
        params: {batch: b-17}
        steps:
          - {id: tell, type: signal, params: {name: batches.done, signalId: "batch-${params.batch}"}}
        """);
    InstanceView ok = awaitFinished(engine, start(engine, "signal-explicit", Map.of()).instanceId(),
        Duration.ofSeconds(20));
    assertEquals(InstanceStatus.SUCCEEDED, ok.status(), ok.toString());
    assertEquals("batch-b-17", step(ok, "tell").outputs().get("signalId").asText());
    assertEquals(0, step(ok, "tell").outputs().get("triggered").size(), "nobody subscribes to batches.done");

    store(engine, """
        id: signal-bad-name
        owner: it
        params: {name: "not a name"}
        steps:
          - {id: tell, type: signal, params: {name: "${params.name}"}, retry: {maxAttempts: 3, on: [platform]}}
        """);
    InstanceView bad = awaitFinished(engine, start(engine, "signal-bad-name", Map.of()).instanceId(),
        Duration.ofSeconds(20));
    assertEquals(InstanceStatus.FAILED, bad.status());
    assertEquals(1, step(bad, "tell").attempt(), "a user error is not retried on platform-only policies");
    assertTrue(step(bad, "tell").reason().contains("name is 1-128"), step(bad, "tell").reason());
  }
}
