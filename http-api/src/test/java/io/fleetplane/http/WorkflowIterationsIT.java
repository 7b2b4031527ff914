package io.fleetplane.http;

import static io.fleetplane.http.WorkflowApiFixture.assertProblem;
import static io.fleetplane.http.WorkflowApiFixture.json;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.fleetplane.jobs.workflow.WorkflowEngine;
import io.fleetplane.testkit.Eventually;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * GET .../steps/{stepId}/iterations over real HTTP: foreach iterations listed from the iterations
 * read side (a projection of the parent's journal into PostgreSQL), paged and filtered by state.
 */
class WorkflowIterationsIT {

  private static final Duration WAIT = Duration.ofSeconds(30);
  private static WorkflowApiFixture api;

  @BeforeAll
  static void up() throws Exception {
    api = WorkflowApiFixture.start("workflow-iterations-it", system -> new WorkflowRoutes(WorkflowEngine.start(system))
        .routes());
  }

  @AfterAll
  static void down() throws Exception {
    api.close();
  }

  private static String start(String workflowId) throws Exception {
    HttpResponse<String> r = api.call("POST", "/api/v1/workflows/" + workflowId + "/instances", "{}");
    assertEquals(201, r.statusCode(), r.body());
    return json(r).get("instanceId").asText();
  }

  private static JsonNode awaitJson(String path, java.util.function.Predicate<JsonNode> condition, String what) {
    JsonNode[] last = new JsonNode[1];
    Eventually.await(WAIT, () -> {
      try {
        HttpResponse<String> r = api.call("GET", path, null);
        last[0] = r.statusCode() == 200 ? json(r) : null;
      } catch (Exception e) {
        throw new IllegalStateException(e);
      }
      return last[0] != null && condition.test(last[0]);
    }, () -> what + "; last: " + last[0]);
    return last[0];
  }

  private static List<Integer> indices(JsonNode page) {
    List<Integer> out = new ArrayList<>();
    page.get("iterations").forEach(i -> out.add(i.get("index").asInt()));
    return out;
  }

  @Test
  void iterationsAreListedWithTheirChildInstanceStateAndTimesPagedAndFilteredByState() throws Exception {
    // Iteration 3 fails (its wait gets a duration that does not parse): 5 succeed, 1 fails.
    assertEquals(201, api.call("POST", "/api/v1/workflows", """
        id: loop-list
        owner: it
        steps:
          - {id: first, type: noop}
          - id: loop
            type: foreach
            dependsOn: [first]
            foreach:
              items: "range(6)"
              as: i
              concurrency: 2
              steps:
                - {id: nap, type: wait, params: {duration: "${i == 3 ? 'never' : '20ms'}"}}
        """).statusCode());
    String instance = start("loop-list");
    String base = "/api/v1/workflows/loop-list/instances/" + instance + "/steps/loop/iterations";
    JsonNode all = awaitJson(base, p -> p.get("total").asInt() == 6 && p.get("iterations").findValuesAsText("state")
        .stream().noneMatch(s -> s.equals("created") || s.equals("running")), "every iteration finished");

    assertEquals(6, all.get("iterations").size());
    String prefix = instance + "~loop~1~";
    for (JsonNode it : all.get("iterations")) {
      int i = it.get("index").asInt();
      assertEquals(prefix + i, it.get("childInstanceId").asText());
      assertEquals(i == 3 ? "failed" : "succeeded", it.get("state").asText(), it.toString());
      assertFalse(it.get("startedAt").isNull(), it.toString());
      assertFalse(it.get("finishedAt").isNull(), it.toString());
    }
    assertEquals(List.of(0, 1, 2, 3, 4, 5), indices(all));
    // The child is a real instance: its own steps are there.
    HttpResponse<String> child = api.call("GET", "/api/v1/workflows/loop-list/instances/" + prefix + "3", null);
    assertEquals(200, child.statusCode(), child.body());
    assertEquals("FAILED", json(child).get("status").asText());

    JsonNode failed = json(api.call("GET", base + "?state=failed", null));
    assertEquals(1, failed.get("total").asInt());
    assertEquals(List.of(3), indices(failed));
    JsonNode succeeded = json(api.call("GET", base + "?state=succeeded&offset=1&limit=2", null));
    assertEquals(5, succeeded.get("total").asInt());
    assertEquals(List.of(1, 2), indices(succeeded));
    JsonNode tail = json(api.call("GET", base + "?offset=4&limit=10", null));
    assertEquals(6, tail.get("total").asInt());
    assertEquals(List.of(4, 5), indices(tail));
    assertEquals(0, json(api.call("GET", base + "?state=running", null)).get("total").asInt());
  }

  @Test
  void notLaunchedIterationsAreCreatedRunningOnesRunningAndCancelledOnesCancelled() throws Exception {
    assertEquals(201, api.call("POST", "/api/v1/workflows", """
        id: loop-slow
        owner: it
        steps:
          - id: loop
            type: foreach
            foreach:
              items: "range(5)"
              as: i
              concurrency: 2
              steps:
                - {id: nap, type: wait, params: {duration: 10m}}
        """).statusCode());
    String instance = start("loop-slow");
    String base = "/api/v1/workflows/loop-slow/instances/" + instance + "/steps/loop/iterations";

    JsonNode running = awaitJson(base + "?state=running", p -> p.get("total").asInt() == 2, "two run");
    assertEquals(List.of(0, 1), indices(running));
    JsonNode created = json(api.call("GET", base + "?state=created&limit=2", null));
    assertEquals(3, created.get("total").asInt(), created.toString());
    assertEquals(List.of(2, 3), indices(created));
    assertTrue(created.get("iterations").get(0).get("startedAt").isNull());
    JsonNode page = json(api.call("GET", base, null));
    assertEquals(List.of("running", "running", "created", "created", "created"),
        page.get("iterations").findValuesAsText("state"));

    assertEquals(200, api.call("POST", "/api/v1/workflows/loop-slow/instances/" + instance + "/actions/cancel", "")
        .statusCode());
    JsonNode cancelled = awaitJson(base + "?state=cancelled", p -> p.get("total").asInt() == 2, "two cancelled");
    assertEquals(List.of(0, 1), indices(cancelled));
    assertEquals(0, json(api.call("GET", base + "?state=running", null)).get("total").asInt());
  }

  @Test
  void unknownStepsAndStepsThatAreNoForeachAreSpecific404s() throws Exception {
    assertEquals(201, api.call("POST", "/api/v1/workflows", """
        id: loop-none
        owner: it
        steps:
          - {id: only, type: noop}
        """).statusCode());
    String instance = start("loop-none");
    String steps = "/api/v1/workflows/loop-none/instances/" + instance + "/steps/";
    assertProblem(api.call("GET", steps + "missing/iterations", null), 404, "workflow.step-not-found");
    assertProblem(api.call("GET", steps + "only/iterations", null), 404, "workflow.step-not-foreach");
    assertProblem(api.call("GET", steps + "only/iterations?state=asleep", null), 400, "request.invalid");
    assertProblem(api.call("GET", "/api/v1/workflows/loop-none/instances/" + java.util.UUID.randomUUID()
        + "/steps/only/iterations", null), 404, "workflow.instance-not-found");
  }
}
