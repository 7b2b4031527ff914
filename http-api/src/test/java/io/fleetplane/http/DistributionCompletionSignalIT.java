package io.fleetplane.http;

import static io.fleetplane.http.ReadSideFixture.failFast;
import static io.fleetplane.http.ReadSideFixture.queryLong;
import static io.fleetplane.http.ReadSideFixture.workflowInstances;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.icegreen.greenmail.util.GreenMail;
import com.icegreen.greenmail.util.ServerSetup;
import io.fleetplane.testkit.Eventually;
import io.fleetplane.testkit.infra.FreePorts;
import io.fleetplane.testkit.infra.PostgresEndpoint;
import io.fleetplane.testkit.infra.TestPostgres;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Distribution completion as a signal source on a whole node: a job that completes and a job that
 * is cancelled each publish {@code distribution.completed} once (id {@code distribution:<job>:<status>},
 * with the job's counts), and the subscribed workflow starts once per job. Forcing the
 * notification to repeat (the projection's offset is lost and the node restarts, as after a crash
 * before the offset was stored) publishes the same ids again and starts nothing new.
 */
class DistributionCompletionSignalIT {

  private static PostgresEndpoint db;
  private static GreenMail mail;
  private static FleetplaneNode node;
  private static Map<String, Object> config;

  @BeforeAll
  static void start() throws Exception {
    db = TestPostgres.newSchema();
    int smtpPort = FreePorts.next();
    mail = new GreenMail(new ServerSetup(smtpPort, FreePorts.LOOPBACK, ServerSetup.PROTOCOL_SMTP));
    mail.start();
    config = NodeFixture.nodeConfig(db, "127.0.0.1:1", "tcp://127.0.0.1:1", "distribution-signals");
    config.put("fleetplane.node.run-bridge", false);
    config.put("fleetplane.node.run-registry", false);
    config.put("fleetplane.node.metrics.kamon-agent", false);
    config.put("fleetplane.workflows.signals.kafka.enabled", false);
    config.put("fleetplane.jobs.distribution.store-dir", Files.createTempDirectory("fp-dist-signals-").toString());
    config.put("fleetplane.jobs.distribution.smtp.port", smtpPort);
    config.put("fleetplane.jobs.distribution.smtp.host", FreePorts.LOOPBACK);
    config.put("fleetplane.jobs.distribution.parallelism", 1);
    config.put("jdbc-read-journal.refresh-interval", "100ms");
    config.put("akka.coordinated-shutdown.run-by-jvm-shutdown-hook", "off");
    node = NodeFixture.startNode(config);
  }

  @AfterAll
  static void stop() throws Exception {
    if (node != null) {
      node.stop().toCompletableFuture().get();
    }
    if (mail != null) {
      mail.stop();
    }
    if (db != null) {
      TestPostgres.dropSchema(db);
    }
  }

  @Test
  void aFinishedJobStartsTheSubscribedWorkflowOnceEvenWhenTheNotificationRepeats() throws Exception {
    assertEquals(201, call("POST", "/api/v1/workflows", "application/yaml", """
        id: after-distribution
        owner: it
        params: {job: none, status: none}
        steps:
          - {id: a, type: noop, params: {j: "${params.job}"}}
        """.getBytes()).statusCode());
    HttpResponse<byte[]> sub = call("POST", "/api/v1/workflows/after-distribution/subscriptions", "application/json", """
        {"signal": "distribution.completed", "params": {"job": "${params.jobId}", "status": "${params.status}"}}"""
        .getBytes());
    assertEquals(201, sub.statusCode(), new String(sub.body()));

    String doc = upload("Signals", 1);
    String completed = submit(new String[] {doc}, 3);
    awaitStatus(completed, "completed");
    String completedSignal = "distribution:" + completed + ":completed";
    JsonNode signal = awaitSignal(completedSignal);
    assertEquals("distribution.completed", signal.get("signal").get("name").asText());
    assertEquals("distribution", signal.get("signal").get("source").asText());
    JsonNode params = signal.get("signal").get("params");
    assertEquals(completed, params.get("jobId").asText());
    assertEquals("completed", params.get("status").asText());
    assertEquals(3, params.get("totalItems").asInt());
    assertEquals(3, params.get("counts").get("completed").asInt());
    assertEquals(1, signal.get("triggered").size(), signal.toString());
    String instanceId = signal.get("triggered").get(0).get("instanceId").asText();
    JsonNode instance = json(call("GET", "/api/v1/workflows/after-distribution/instances/" + instanceId, null, null));
    assertEquals(completed, instance.get("params").get("job").asText(), instance.toString());

    // Cancelled is terminal too: its own signal and instance.
    // Big enough to be still running when the cancel arrives (parallelism 1).
    String[] big = {upload("Long A", 30), upload("Long B", 30), upload("Long C", 30)};
    String cancelled = submit(big, 10);
    HttpResponse<byte[]> cancel = call("POST", "/api/v1/distributions/" + cancelled + "/actions/cancel",
        "application/json", new byte[0]);
    assertEquals(200, cancel.statusCode(), new String(cancel.body()));
    awaitStatus(cancelled, "cancelled");
    JsonNode cancelledSignal = awaitSignal("distribution:" + cancelled + ":cancelled");
    assertEquals("cancelled", cancelledSignal.get("signal").get("params").get("status").asText());
    assertEquals(1, cancelledSignal.get("triggered").size());
    Eventually.await(Duration.ofSeconds(30), failFast(() -> workflowInstances(db) == 2),
        () -> "one instance per finished job");
    assertEquals(2, queryLong(db, "SELECT count(*) FROM workflow_signal"));

    // The notification repeats: the stored offset is gone, so the projection handles every
    // lifecycle event again after the restart.
    long offset = queryLong(db, "SELECT current_offset::bigint FROM akka_projection_offset_store"
        + " WHERE projection_name = 'distribution-completion-signals'");
    assertTrue(offset > 0);
    node.stop().toCompletableFuture().get();
    try (Connection c = db.connect(); PreparedStatement ps = c.prepareStatement(
        "DELETE FROM akka_projection_offset_store WHERE projection_name = 'distribution-completion-signals'")) {
      assertEquals(1, ps.executeUpdate());
    }
    node = NodeFixture.startNode(config);
    Eventually.await(Duration.ofSeconds(60), failFast(() -> queryLong(db,
        "SELECT coalesce(max(current_offset::bigint), 0)"
        + " FROM akka_projection_offset_store WHERE projection_name = 'distribution-completion-signals'") >= offset),
        () -> "the projection handled every lifecycle event again");
    assertEquals(2, queryLong(db, "SELECT count(*) FROM workflow_signal"), "the same two signal ids");
    assertEquals(2, workflowInstances(db), "no instance for a repeated notification");
    assertEquals(2, queryLong(db, "SELECT count(*) FROM workflow_signal_trigger"));
  }

  // --- helpers ---------------------------------------------------------------------------------

  private static String upload(String title, int pages) throws Exception {
    HttpResponse<byte[]> r = call("POST", "/api/v1/documents", "application/pdf",
        DistributionHttpIT.pdf(title, pages, false));
    assertEquals(201, r.statusCode(), new String(r.body()));
    return json(r).get("documentId").asText();
  }

  private static String submit(String[] docs, int recipients) throws Exception {
    HttpResponse<byte[]> created = call("POST", "/api/v1/distributions", "application/json",
        ("{\"files\":" + DistributionHttpIT.files(docs) + ",\"recipients\":"
            + DistributionHttpIT.recipients("Sig", recipients) + "}").getBytes());
    assertEquals(202, created.statusCode(), new String(created.body()));
    return json(created).get("id").asText();
  }

  private static void awaitStatus(String id, String status) {
    NodeFixture.awaitResponse(node.httpPort(), "/api/v1/distributions/" + id,
        r -> r.statusCode() == 200 && r.body().contains("\"status\":\"" + status + "\""), Duration.ofSeconds(60));
  }

  private static JsonNode awaitSignal(String signalId) throws Exception {
    return NodeFixture.json(NodeFixture.awaitResponse(node.httpPort(), "/api/v1/signals/" + signalId,
        r -> r.statusCode() == 200 && r.body().contains("\"instanceId\""), Duration.ofSeconds(60)));
  }

  private static JsonNode json(HttpResponse<byte[]> r) throws Exception {
    return NodeFixture.JSON.readTree(r.body());
  }

  private static HttpResponse<byte[]> call(String method, String path, String contentType, byte[] body)
      throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + node.httpPort() + path))
        .timeout(Duration.ofSeconds(20)).header("Authorization", "Bearer " + TestTokens.admin());
    if (contentType != null) {
      b.header("Content-Type", contentType);
    }
    b.method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofByteArray(body));
    return NodeFixture.HTTP.send(b.build(), HttpResponse.BodyHandlers.ofByteArray());
  }
}
