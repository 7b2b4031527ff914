package io.fleetplane.http;

import static io.fleetplane.http.WorkflowApiFixture.assertProblem;
import static io.fleetplane.http.WorkflowApiFixture.json;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.fleetplane.jobs.workflow.WorkflowEngine;
import io.fleetplane.testkit.Eventually;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The workflow API over real HTTP, on a real engine and journal. */
class WorkflowRoutesIT {

  private static WorkflowApiFixture api;

  @BeforeAll
  static void up() throws Exception {
    api = WorkflowApiFixture.start("workflow-routes-it", system -> {
      WorkflowRoutes routes = new WorkflowRoutes(WorkflowEngine.start(system));
      return routes.routes();
    });
  }

  @AfterAll
  static void down() throws Exception {
    api.close();
  }

  private static JsonNode awaitStatus(String path, String status) throws Exception {
    JsonNode[] last = new JsonNode[1];
    Eventually.await(Duration.ofSeconds(15), () -> {
      try {
        last[0] = json(api.call("GET", path, null));
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
    HttpResponse<String> v1 = api.call("POST", "/api/v1/workflows", yaml);
    assertEquals(201, v1.statusCode(), v1.body());
    assertEquals(1, json(v1).get("version").asInt());
    assertEquals("data-platform", json(v1).get("owner").asText());
    assertEquals(2, json(api.call("POST", "/api/v1/workflows", yaml)).get("version").asInt());
    JsonNode versions = json(api.call("GET", "/api/v1/workflows/backfill", null)).get("versions");
    assertEquals(2, versions.size());
    assertEquals(2, versions.get(0).get("version").asInt());
    assertEquals(yaml, json(api.call("GET", "/api/v1/workflows/backfill/versions/1", null)).get("source").asText());
    assertProblem(api.call("GET", "/api/v1/workflows/backfill/versions/9", null), 404, "workflow.not-found");

    HttpResponse<String> started = api.call("POST", "/api/v1/workflows/backfill/instances",
        "{\"params\": {\"end\": \"2024-01-01T05:00:00Z\"}, \"version\": 1}");
    assertEquals(201, started.statusCode(), started.body());
    String id = json(started).get("instanceId").asText();
    JsonNode done = awaitStatus("/api/v1/workflows/backfill/instances/" + id, "SUCCEEDED");
    assertEquals(1, done.get("version").asInt());
    assertEquals(5, done.get("steps").get(1).get("foreach").get("succeeded").asInt());
    JsonNode succeeded = json(api.call("GET", "/api/v1/workflows/backfill/instances/" + id
        + "/steps?state=succeeded&offset=1&limit=5", null));
    assertEquals(2, succeeded.get("total").asInt());
    assertEquals(1, succeeded.get("steps").size());
    assertEquals("step2", succeeded.get("steps").get(0).get("stepId").asText());
    assertEquals(0, json(api.call("GET", "/api/v1/workflows/backfill/instances/" + id + "/steps?state=failed", null))
        .get("total").asInt());
    assertProblem(api.call("GET", "/api/v1/workflows/backfill/instances/" + id + "/steps?state=sleepy", null), 400,
        "request.invalid");
    JsonNode timeline = json(api.call("GET", "/api/v1/workflows/backfill/instances/" + id + "/timeline", null))
        .get("timeline");
    assertEquals("STARTED", timeline.get(0).get("status").asText());
    assertEquals("SUCCEEDED", timeline.get(timeline.size() - 1).get("status").asText());
  }

  @Test
  void invalidDefinitionsAnswerWithEveryErrorItsStepAndLine() throws Exception {
    HttpResponse<String> r = api.call("POST", "/api/v1/workflows", """
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
    assertProblem(api.call("GET", "/api/v1/workflows/broken", null), 404, "workflow.not-found");
    assertProblem(api.call("POST", "/api/v1/workflows", "id: nobody\nsteps: [{id: a, type: noop}]\n"), 400,
        "workflow.invalid-definition");
  }

  @Test
  void startIsIdempotentPerRequestIdAndBadInputIsAProblem() throws Exception {
    assertEquals(201, api.call("POST", "/api/v1/workflows", """
        id: napper
        owner: it
        params: {d: 1m}
        steps:
          - {id: nap, type: wait, params: {duration: "${params.d}"}}
        """).statusCode());
    String body = "{\"requestId\": \"cron-2024-01-01T00\"}";
    String first = json(api.call("POST", "/api/v1/workflows/napper/instances", body)).get("instanceId").asText();
    String second = json(api.call("POST", "/api/v1/workflows/napper/instances", body)).get("instanceId").asText();
    assertEquals(first, second);

    assertProblem(api.call("POST", "/api/v1/workflows/napper/instances", "{\"params\": {\"x\": 1}}"), 400,
        "workflow.invalid-params");
    assertProblem(api.call("POST", "/api/v1/workflows/napper/instances", "{not json"), 400, "request.json-malformed");
    assertProblem(api.call("POST", "/api/v1/workflows/napper/instances", "{\"params\": 3}"), 400, "request.invalid");
    assertProblem(api.call("POST", "/api/v1/workflows/ghost/instances", "{}"), 404, "workflow.not-found");
    assertProblem(api.call("GET", "/api/v1/workflows/napper/instances/nope", null), 400,
        "workflow.instance-id-invalid");
    assertProblem(api.call("GET", "/api/v1/workflows/napper/instances/" + java.util.UUID.randomUUID(), null), 404,
        "workflow.instance-not-found");

    HttpResponse<String> paused = api.call("POST", "/api/v1/workflows/napper/instances/" + first + "/actions/pause", null);
    assertEquals("PAUSED", json(paused).get("status").asText(), paused.body());
    assertProblem(api.call("POST", "/api/v1/workflows/napper/instances/" + first + "/actions/pause", null), 409,
        "workflow.instance-state-conflict");
    assertEquals("RUNNING", json(api.call("POST", "/api/v1/workflows/napper/instances/" + first + "/actions/resume",
        null)).get("status").asText());
    HttpResponse<String> cancelled = api.call("POST", "/api/v1/workflows/napper/instances/" + first + "/actions/cancel",
        null);
    assertEquals(200, cancelled.statusCode(), cancelled.body());
    assertEquals("CANCELLED", json(cancelled).get("status").asText());
    assertEquals("CANCELLED", json(cancelled).get("steps").get(0).get("status").asText());
    assertProblem(api.call("POST", "/api/v1/workflows/napper/instances/" + first + "/actions/cancel", null), 409,
        "workflow.instance-finished");
    assertProblem(api.call("POST", "/api/v1/workflows/napper/instances/" + first + "/actions/restart", null), 409,
        "workflow.instance-not-failed");
    assertTrue(io.fleetplane.config.metrics.Metrics.count("fleetplane_workflows_rejected_requests",
        Map.of("code", "workflow.invalid-params")) >= 1);
  }

  @Test
  void aFirstOnlyWorkflowAnswers409WhileAnInstanceRuns() throws Exception {
    assertEquals(201, api.call("POST", "/api/v1/workflows", """
        id: singleton
        owner: it
        runStrategy: first-only
        steps:
          - {id: nap, type: wait, params: {duration: 1m}}
        """).statusCode());
    HttpResponse<String> first = api.call("POST", "/api/v1/workflows/singleton/instances", "{}");
    assertEquals(201, first.statusCode(), first.body());
    assertProblem(api.call("POST", "/api/v1/workflows/singleton/instances", "{}"), 409, "workflow.run-rejected");
    String id = json(first).get("instanceId").asText();
    assertEquals(200, api.call("POST", "/api/v1/workflows/singleton/instances/" + id + "/actions/cancel", null)
        .statusCode());
  }
}
