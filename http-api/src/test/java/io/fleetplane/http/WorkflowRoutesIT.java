package io.fleetplane.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.actor.typed.ActorSystem;
import akka.actor.typed.javadsl.Behaviors;
import akka.cluster.typed.Cluster;
import akka.cluster.typed.Join;
import akka.http.javadsl.Http;
import akka.http.javadsl.ServerBinding;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fleetplane.config.FleetplaneConfig;
import io.fleetplane.jobs.workflow.WorkflowEngine;
import io.fleetplane.persistence.DatabaseMigrations;
import io.fleetplane.persistence.PersistenceSettings;
import io.fleetplane.testkit.Eventually;
import io.fleetplane.testkit.infra.PostgresEndpoint;
import io.fleetplane.testkit.infra.TestPostgres;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The workflow API over real HTTP, on a real engine and journal. */
class WorkflowRoutesIT {

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final HttpClient HTTP = HttpClient.newHttpClient();
  private static PostgresEndpoint db;
  private static ActorSystem<Void> system;
  private static ServerBinding binding;

  @BeforeAll
  static void up() throws Exception {
    db = TestPostgres.newSchema();
    DatabaseMigrations.migrate(new PersistenceSettings(db.jdbcUrl(), db.user(), db.password(), 4, true,
        Duration.ofSeconds(10)));
    Map<String, Object> c = new HashMap<>();
    c.put("akka.actor.provider", "cluster");
    c.put("akka.remote.artery.canonical.hostname", "127.0.0.1");
    c.put("akka.remote.artery.canonical.port", 0);
    c.put("akka.cluster.jmx.multi-mbeans-in-same-jvm", "on");
    c.put("akka.loglevel", "WARNING");
    c.put("fleetplane.persistence.jdbc-url", db.jdbcUrl());
    c.put("fleetplane.persistence.user", db.user());
    c.put("fleetplane.persistence.password", db.password());
    system = ActorSystem.create(Behaviors.empty(), "workflow-routes-it", FleetplaneConfig.load(c));
    Cluster.get(system).manager().tell(Join.create(Cluster.get(system).selfMember().address()));
    WorkflowRoutes routes = new WorkflowRoutes(WorkflowEngine.start(system));
    ErrorHandling errors = new ErrorHandling();
    binding = Http.get(system).newServerAt("127.0.0.1", 0)
        .bind(errors.wrap(() -> errors.pathPrefix("api", () -> errors.pathPrefix("v1", routes::routes))))
        .toCompletableFuture().get(10, TimeUnit.SECONDS);
  }

  @AfterAll
  static void down() throws Exception {
    binding.unbind();
    system.terminate();
    system.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
    TestPostgres.dropSchema(db);
  }

  private static HttpResponse<String> call(String method, String path, String body) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + binding.localAddress().getPort()
        + path)).timeout(Duration.ofSeconds(15));
    b.method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
    return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  private static JsonNode json(HttpResponse<String> r) throws Exception {
    return JSON.readTree(r.body());
  }

  private static void assertProblem(HttpResponse<String> r, int status, String code) throws Exception {
    assertEquals(status, r.statusCode(), r.body());
    assertEquals("application/problem+json", r.headers().firstValue("Content-Type").orElse(""));
    assertEquals(code, json(r).get("code").asText(), r.body());
  }

  private static JsonNode awaitStatus(String path, String status) throws Exception {
    JsonNode[] last = new JsonNode[1];
    Eventually.await(Duration.ofSeconds(15), () -> {
      try {
        last[0] = json(call("GET", path, null));
        return status.equals(last[0].path("status").asText());
      } catch (Exception e) {
        return false;
      }
    }, () -> path + " reaches " + status + "; last " + last[0]);
    return last[0];
  }

  @Test
  void storeVersionsStartAndFollowTheBackfill() throws Exception {
    String yaml = Files.readString(Path.of("../examples/backfill.yaml"));
    HttpResponse<String> v1 = call("POST", "/api/v1/workflows", yaml);
    assertEquals(201, v1.statusCode(), v1.body());
    assertEquals(1, json(v1).get("version").asInt());
    assertEquals("data-platform", json(v1).get("owner").asText());
    assertEquals(2, json(call("POST", "/api/v1/workflows", yaml)).get("version").asInt());
    JsonNode versions = json(call("GET", "/api/v1/workflows/backfill", null)).get("versions");
    assertEquals(2, versions.size());
    assertEquals(2, versions.get(0).get("version").asInt());
    assertEquals(yaml, json(call("GET", "/api/v1/workflows/backfill/versions/1", null)).get("source").asText());
    assertProblem(call("GET", "/api/v1/workflows/backfill/versions/9", null), 404, "workflow.not-found");

    HttpResponse<String> started = call("POST", "/api/v1/workflows/backfill/instances",
        "{\"params\": {\"end\": \"2024-01-01T05:00:00Z\"}, \"version\": 1}");
    assertEquals(201, started.statusCode(), started.body());
    String id = json(started).get("instanceId").asText();
    JsonNode done = awaitStatus("/api/v1/workflows/backfill/instances/" + id, "SUCCEEDED");
    assertEquals(1, done.get("version").asInt());
    assertEquals(5, done.get("steps").get(1).get("foreach").get("succeeded").asInt());
    JsonNode succeeded = json(call("GET", "/api/v1/workflows/backfill/instances/" + id
        + "/steps?state=succeeded&offset=1&limit=5", null));
    assertEquals(2, succeeded.get("total").asInt());
    assertEquals(1, succeeded.get("steps").size());
    assertEquals("step2", succeeded.get("steps").get(0).get("stepId").asText());
    assertEquals(0, json(call("GET", "/api/v1/workflows/backfill/instances/" + id + "/steps?state=failed", null))
        .get("total").asInt());
    assertProblem(call("GET", "/api/v1/workflows/backfill/instances/" + id + "/steps?state=sleepy", null), 400,
        "request.invalid");
    JsonNode timeline = json(call("GET", "/api/v1/workflows/backfill/instances/" + id + "/timeline", null))
        .get("timeline");
    assertEquals("STARTED", timeline.get(0).get("status").asText());
    assertEquals("SUCCEEDED", timeline.get(timeline.size() - 1).get("status").asText());
  }

  @Test
  void invalidDefinitionsAnswerWithEveryErrorItsStepAndLine() throws Exception {
    HttpResponse<String> r = call("POST", "/api/v1/workflows", """
        id: broken
        owner: it
        steps:
          - {id: a, type: noop, dependsOn: [b]}
          - {id: b, type: noop, dependsOn: [a]}
          - {id: c, type: warp}
        """);
    assertProblem(r, 400, "workflow.unknown-step-type");
    JsonNode errors = json(r).get("errors");
    assertEquals(2, errors.size(), r.body());
    assertEquals("c", errors.get(0).get("step").asText());
    assertEquals(6, errors.get(0).get("line").asInt());
    assertEquals("workflow.cycle-detected", errors.get(1).get("code").asText());
    assertProblem(call("GET", "/api/v1/workflows/broken", null), 404, "workflow.not-found");
    assertProblem(call("POST", "/api/v1/workflows", "id: nobody\nsteps: [{id: a, type: noop}]\n"), 400,
        "workflow.invalid-definition");
  }

  @Test
  void startIsIdempotentPerRequestIdAndBadInputIsAProblem() throws Exception {
    assertEquals(201, call("POST", "/api/v1/workflows", """
        id: napper
        owner: it
        params: {d: 1m}
        steps:
          - {id: nap, type: wait, params: {duration: "${params.d}"}}
        """).statusCode());
    String body = "{\"requestId\": \"cron-2024-01-01T00\"}";
    String first = json(call("POST", "/api/v1/workflows/napper/instances", body)).get("instanceId").asText();
    String second = json(call("POST", "/api/v1/workflows/napper/instances", body)).get("instanceId").asText();
    assertEquals(first, second);

    assertProblem(call("POST", "/api/v1/workflows/napper/instances", "{\"params\": {\"x\": 1}}"), 400,
        "workflow.invalid-params");
    assertProblem(call("POST", "/api/v1/workflows/napper/instances", "{not json"), 400, "request.json-malformed");
    assertProblem(call("POST", "/api/v1/workflows/napper/instances", "{\"params\": 3}"), 400, "request.invalid");
    assertProblem(call("POST", "/api/v1/workflows/ghost/instances", "{}"), 404, "workflow.not-found");
    assertProblem(call("GET", "/api/v1/workflows/napper/instances/nope", null), 400,
        "workflow.instance-id-invalid");
    assertProblem(call("GET", "/api/v1/workflows/napper/instances/" + java.util.UUID.randomUUID(), null), 404,
        "workflow.instance-not-found");

    HttpResponse<String> paused = call("POST", "/api/v1/workflows/napper/instances/" + first + "/actions/pause", null);
    assertEquals("PAUSED", json(paused).get("status").asText(), paused.body());
    assertProblem(call("POST", "/api/v1/workflows/napper/instances/" + first + "/actions/pause", null), 409,
        "workflow.instance-state-conflict");
    assertEquals("RUNNING", json(call("POST", "/api/v1/workflows/napper/instances/" + first + "/actions/resume",
        null)).get("status").asText());
    HttpResponse<String> cancelled = call("POST", "/api/v1/workflows/napper/instances/" + first + "/actions/cancel",
        null);
    assertEquals(200, cancelled.statusCode(), cancelled.body());
    assertEquals("CANCELLED", json(cancelled).get("status").asText());
    assertEquals("CANCELLED", json(cancelled).get("steps").get(0).get("status").asText());
    assertProblem(call("POST", "/api/v1/workflows/napper/instances/" + first + "/actions/cancel", null), 409,
        "workflow.instance-finished");
    assertProblem(call("POST", "/api/v1/workflows/napper/instances/" + first + "/actions/restart", null), 409,
        "workflow.instance-not-failed");
    assertTrue(io.fleetplane.config.metrics.Metrics.count("fleetplane_workflows_rejected_requests",
        Map.of("code", "workflow.invalid-params")) >= 1);
  }

  @Test
  void aFirstOnlyWorkflowAnswers409WhileAnInstanceRuns() throws Exception {
    assertEquals(201, call("POST", "/api/v1/workflows", """
        id: singleton
        owner: it
        runStrategy: first-only
        steps:
          - {id: nap, type: wait, params: {duration: 1m}}
        """).statusCode());
    HttpResponse<String> first = call("POST", "/api/v1/workflows/singleton/instances", "{}");
    assertEquals(201, first.statusCode(), first.body());
    assertProblem(call("POST", "/api/v1/workflows/singleton/instances", "{}"), 409, "workflow.run-rejected");
    String id = json(first).get("instanceId").asText();
    assertEquals(200, call("POST", "/api/v1/workflows/singleton/instances/" + id + "/actions/cancel", null)
        .statusCode());
  }
}
