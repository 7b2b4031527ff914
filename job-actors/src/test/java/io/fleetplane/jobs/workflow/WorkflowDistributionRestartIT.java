package io.fleetplane.jobs.workflow;

import static io.fleetplane.jobs.workflow.WorkflowFixture.await;
import static io.fleetplane.jobs.workflow.WorkflowFixture.awaitFinished;
import static io.fleetplane.jobs.workflow.WorkflowFixture.awaitView;
import static io.fleetplane.jobs.workflow.WorkflowFixture.history;
import static io.fleetplane.jobs.workflow.WorkflowFixture.step;
import static io.fleetplane.jobs.workflow.WorkflowFixture.store;
import static org.junit.jupiter.api.Assertions.assertEquals;

import akka.actor.typed.ActorSystem;
import com.fasterxml.jackson.databind.node.TextNode;
import io.fleetplane.jobs.distribution.CopyRenderer;
import io.fleetplane.jobs.distribution.DistributionFixture;
import io.fleetplane.jobs.distribution.DistributionJob;
import io.fleetplane.jobs.distribution.Distributions;
import io.fleetplane.jobs.distribution.TestPdfs;
import io.fleetplane.jobs.workflow.WorkflowInstance.InstanceView;
import io.fleetplane.jobs.workflow.domain.InstanceStatus;
import io.fleetplane.jobs.workflow.domain.StepStatus;
import io.fleetplane.testkit.Eventually;
import io.fleetplane.testkit.infra.FreePorts;
import io.fleetplane.testkit.infra.PostgresEndpoint;
import io.fleetplane.testkit.infra.TestPostgres;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A node stops while a distribution step waits for its job; the next node continues the same
 * step attempt and the same job (the step re-dispatches, the submit with the derived id finds the
 * job), so exactly one job exists and the step succeeds.
 */
class WorkflowDistributionRestartIT {

  @Test
  void aDistributionStepContinuesItsJobAfterANodeRestart() throws Exception {
    PostgresEndpoint db = TestPostgres.newSchema();
    Path storeDir = Files.createTempDirectory("fp-wf-distribution-restart-it-");
    try {
      DistributionFixture.migrate(db);
      Map<String, Object> config = new HashMap<>(DistributionFixture.config(db, storeDir, FreePorts.next(), 2));
      config.put("fleetplane.workflows.ask-timeout", "30s");
      config.put("fleetplane.workflows.distribution-step.poll-interval", "200ms");
      CountDownLatch hold = new CountDownLatch(1);
      // Node 1 renders nothing: its workers wait (at most a few seconds) so the job cannot finish there.
      CopyRenderer stuck = (jobId, itemId, source, watermark, fingerprint, password) -> {
        try {
          hold.await(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
        throw new java.io.IOException("node 1 is going down");
      };
      ActorSystem<Void> node1 = DistributionFixture.startNode(config, stuck);
      String instanceId;
      String doc;
      try {
        WorkflowEngine engine1 = WorkflowEngine.start(node1);
        doc = Distributions.get(node1).upload(TestPdfs.script("Restart script", 1)).documentId();
        store(engine1, """
            id: distribute-restart
            owner: it
            params: {doc: x}
            steps:
              - id: send
                type: distribution
                params:
                  documentIds: ["${params.doc}"]
                  recipients: [{name: Ada, email: ada@example.org}, {name: Bob, email: bob@example.org}]
                  emailNotification: false
            """);
        instanceId = await(engine1.startInstance("distribute-restart", Optional.empty(),
            Map.of("doc", TextNode.valueOf(doc)), Optional.empty())).instanceId();
        String jobId = WorkflowInstance.distributionJobIdFor(instanceId, "send", 1);
        awaitView(engine1, instanceId, Duration.ofSeconds(20), v -> step(v, "send").status() == StepStatus.RUNNING,
            "send runs");
        Eventually.await(Duration.ofSeconds(20), () -> await(Distributions.get(node1).summary(jobId))
            instanceof DistributionJob.SummaryFound, () -> "job " + jobId + " exists");
      } finally {
        WorkflowFixture.stop(node1);
        hold.countDown();
      }

      ActorSystem<Void> node2 = DistributionFixture.startNode(config, CopyRenderer.PDFBOX);
      try {
        WorkflowEngine engine2 = WorkflowEngine.start(node2);
        InstanceView done = awaitFinished(engine2, instanceId, Duration.ofSeconds(60));
        assertEquals(InstanceStatus.SUCCEEDED, done.status(), done.toString());
        assertEquals(List.of("RUNNING#1", "SUCCEEDED#1"), history(done, "send"), "the same attempt continued");
        String jobId = WorkflowInstance.distributionJobIdFor(instanceId, "send", 1);
        assertEquals(jobId, step(done, "send").outputs().get("distributionId").asText());
        assertEquals(2, step(done, "send").outputs().get("counts").get("completed").asInt(), done.toString());
        assertEquals(List.of("DistributionJob|" + jobId), distributionJobs(db), "one job, not two");
      } finally {
        WorkflowFixture.stop(node2);
      }
    } finally {
      TestPostgres.dropSchema(db);
      try (var files = Files.walk(storeDir)) {
        files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      }
    }
  }

  private static List<String> distributionJobs(PostgresEndpoint db) throws Exception {
    List<String> out = new ArrayList<>();
    try (Connection c = DriverManager.getConnection(db.jdbcUrl(), db.user(), db.password());
        Statement st = c.createStatement();
        ResultSet rs = st.executeQuery("SELECT DISTINCT persistence_id FROM event_journal"
            + " WHERE persistence_id LIKE 'DistributionJob|%'")) {
      while (rs.next()) {
        out.add(rs.getString(1));
      }
    }
    return out;
  }
}
