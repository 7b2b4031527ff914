package io.fleetplane.jobs.workflow;

import static io.fleetplane.jobs.workflow.WorkflowFixture.await;
import static io.fleetplane.jobs.workflow.WorkflowFixture.awaitFinished;
import static io.fleetplane.jobs.workflow.WorkflowFixture.step;
import static io.fleetplane.jobs.workflow.WorkflowFixture.store;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.actor.typed.ActorSystem;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.TextNode;
import io.fleetplane.jobs.distribution.CopyRenderer;
import io.fleetplane.jobs.distribution.DistributionFixture;
import io.fleetplane.jobs.distribution.DistributionJob;
import io.fleetplane.jobs.distribution.Distributions;
import io.fleetplane.jobs.distribution.TestPdfs;
import io.fleetplane.jobs.workflow.WorkflowInstance.InstanceView;
import io.fleetplane.jobs.workflow.domain.InstanceStatus;
import io.fleetplane.jobs.workflow.domain.StepStatus;
import io.fleetplane.testkit.infra.FreePorts;
import io.fleetplane.testkit.infra.PostgresEndpoint;
import io.fleetplane.testkit.infra.TestPostgres;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The {@code distribution} step on a real node: real PDF rendering, the real job journal on
 * PostgreSQL; e-mail off (the SMTP port is free and never contacted).
 */
class WorkflowDistributionStepIT {

  private static PostgresEndpoint db;
  private static ActorSystem<Void> system;
  private static WorkflowEngine engine;
  private static Distributions distributions;
  private static Path storeDir;
  /** While set, rendering blocks until it counts down: lets a test cancel a job mid-way. */
  private static volatile CountDownLatch hold;

  private static final CopyRenderer HOLDABLE = (jobId, itemId, source, watermark, fingerprint, password) -> {
    CountDownLatch h = hold;
    if (h != null) {
      try {
        h.await(30, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new java.io.InterruptedIOException("render interrupted");
      }
    }
    return CopyRenderer.PDFBOX.render(jobId, itemId, source, watermark, fingerprint, password);
  };

  @BeforeAll
  static void up() throws Exception {
    db = TestPostgres.newSchema();
    DistributionFixture.migrate(db);
    storeDir = Files.createTempDirectory("fp-wf-distribution-it-");
    Map<String, Object> config = new HashMap<>(DistributionFixture.config(db, storeDir, FreePorts.next(), 2));
    config.put("fleetplane.workflows.ask-timeout", "30s");
    config.put("fleetplane.workflows.distribution-step.poll-interval", "200ms");
    system = DistributionFixture.startNode(config, HOLDABLE);
    distributions = Distributions.get(system);
    engine = WorkflowEngine.start(system);
  }

  @AfterAll
  static void down() throws Exception {
    WorkflowFixture.stop(system);
    TestPostgres.dropSchema(db);
    try (var files = Files.walk(storeDir)) {
      files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    }
  }

  private static final String DEFINITION = """
      id: %s
      owner: it
      params: {doc: x}
      steps:
        - id: send
          type: distribution
          params:
            documentIds: ["${params.doc}"]
            recipients:
              - {name: Ada, email: ada@example.org}
              - {name: Bob, email: bob@example.org}
            options: {emailNotification: false, watermarkTemplate: "For {recipient.name}"}
        - {id: after, type: noop, dependsOn: [send], params: {copies: "${steps.send.counts.completed}"}}
      """;

  private static InstanceView start(String workflowId, String doc) {
    return await(engine.startInstance(workflowId, Optional.empty(), Map.of("doc", TextNode.valueOf(doc)),
        Optional.empty()));
  }

  @Test
  void aDistributionStepStartsOneJobAndWaitsForIt() throws Exception {
    String doc = distributions.upload(TestPdfs.script("Workflow script", 1)).documentId();
    store(engine, DEFINITION.formatted("distribute"));
    InstanceView done = awaitFinished(engine, start("distribute", doc).instanceId(), Duration.ofSeconds(60));
    assertEquals(InstanceStatus.SUCCEEDED, done.status(), done.toString());
    JsonNode out = step(done, "send").outputs();
    String jobId = WorkflowInstance.distributionJobIdFor(done.instanceId(), "send", 1);
    assertEquals(jobId, out.get("distributionId").asText(), out.toString());
    assertEquals("completed", out.get("status").asText());
    assertEquals(2, out.get("totalItems").asInt());
    assertEquals(2, out.get("counts").get("completed").asInt(), out.toString());
    assertEquals(2, step(done, "after").outputs().get("copies").asInt());
    // What a re-dispatch of the same attempt does: the same job id, so nothing new is created.
    DistributionJob.Accepted again = await(distributions.submit(WorkflowInstance.distributionRequest(Map.of(
        "documentIds", WorkflowFixture.JSON.createArrayNode().add(doc),
        "recipients", WorkflowFixture.JSON.readTree("[{\"name\":\"Ada\",\"email\":\"ada@example.org\"},"
            + "{\"name\":\"Bob\",\"email\":\"bob@example.org\"}]"))), jobId));
    assertFalse(again.created());
    assertEquals("completed", again.summary().status());
  }

  @Test
  void aCancelledJobFailsTheStepAndABadRequestIsAUserError() throws Exception {
    String doc = distributions.upload(TestPdfs.script("Cancelled script", 1)).documentId();
    store(engine, DEFINITION.formatted("distribute-cancelled"));
    hold = new CountDownLatch(1);
    String instanceId;
    try {
      instanceId = start("distribute-cancelled", doc).instanceId();
      String jobId = WorkflowInstance.distributionJobIdFor(instanceId, "send", 1);
      WorkflowFixture.awaitView(engine, instanceId, Duration.ofSeconds(20),
          v -> step(v, "send").status() == StepStatus.RUNNING, "send runs");
      io.fleetplane.testkit.Eventually.await(Duration.ofSeconds(20),
          () -> await(distributions.summary(jobId)) instanceof DistributionJob.SummaryFound, () -> "job exists");
      assertTrue(await(distributions.cancel(jobId)) instanceof DistributionJob.CancelAccepted);
    } finally {
      hold.countDown();
      hold = null;
    }
    InstanceView failed = awaitFinished(engine, instanceId, Duration.ofSeconds(60));
    assertEquals(InstanceStatus.FAILED, failed.status(), failed.toString());
    assertEquals(StepStatus.FAILED, step(failed, "send").status());
    assertTrue(step(failed, "send").reason().contains("ended cancelled"), step(failed, "send").reason());
    assertEquals("cancelled", step(failed, "send").outputs().get("status").asText());
    assertEquals(0, step(failed, "after").attempt(), "downstream never ran: " + step(failed, "after"));

    // An unknown document: rejected by the same validation as the HTTP API, before any job exists.
    InstanceView bad = awaitFinished(engine, start("distribute-cancelled", "no-such-doc").instanceId(),
        Duration.ofSeconds(30));
    assertEquals(InstanceStatus.FAILED, bad.status());
    assertTrue(step(bad, "send").reason().contains("is not an uploaded document"), step(bad, "send").reason());
  }
}
