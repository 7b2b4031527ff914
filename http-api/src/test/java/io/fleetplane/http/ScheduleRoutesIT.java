package io.fleetplane.http;

import static io.fleetplane.http.WorkflowApiFixture.assertProblem;
import static io.fleetplane.http.WorkflowApiFixture.json;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.http.javadsl.server.Directives;
import com.fasterxml.jackson.databind.JsonNode;
import io.fleetplane.config.metrics.Metrics;
import io.fleetplane.jobs.workflow.WorkflowEngine;
import io.fleetplane.jobs.workflow.schedule.WorkflowSchedules;
import io.fleetplane.testkit.Eventually;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The schedule API over real HTTP, on a real engine, scheduler singleton and journal. */
class ScheduleRoutesIT {

  private static WorkflowApiFixture api;

  @BeforeAll
  static void up() throws Exception {
    api = WorkflowApiFixture.start("schedule-routes-it", system -> {
      WorkflowEngine engine = WorkflowEngine.start(system);
      ScheduleRoutes schedules = new ScheduleRoutes(engine, WorkflowSchedules.start(system),
          io.fleetplane.jobs.workflow.signal.WorkflowSignals.start(system), new JsonBody(64 * 1024, 5_000));
      WorkflowRoutes workflows = new WorkflowRoutes(engine);
      return Directives.concat(schedules.routes(), workflows.routes());
    });
    HttpResponse<String> stored = api.call("POST", "/api/v1/workflows", """
        id: nightly
        owner: it
        params: {region: eu}
        steps:
          - {id: a, type: noop, params: {region: "${params.region}"}}
        """);
    assertEquals(201, stored.statusCode(), stored.body());
  }

  @AfterAll
  static void down() throws Exception {
    api.close();
  }

  @Test
  void badSchedulesAreRejectedWithTheirOwnCodesAndCounted() throws Exception {
    String base = "/api/v1/workflows/nightly/schedules";
    long before = Metrics.count("fleetplane_workflows_rejected_requests", Map.of("code", "schedule.invalid-cron"));
    assertProblem(api.call("POST", base, "{\"cron\": \"61 * * * *\"}"), 400, "schedule.invalid-cron");
    assertEquals(before + 1, Metrics.count("fleetplane_workflows_rejected_requests",
        Map.of("code", "schedule.invalid-cron")));
    assertProblem(api.call("POST", base, "{\"period\": \"fortnightly\"}"), 400, "schedule.invalid-cron");
    assertProblem(api.call("POST", base, "{\"cron\": \"0 6 * * *\", \"timeZone\": \"Mars/Olympus\"}"), 400,
        "schedule.invalid-time-zone");
    assertProblem(api.call("POST", base, "{\"cron\": \"0 6 * * *\", \"period\": \"daily\"}"), 400, "schedule.invalid");
    assertProblem(api.call("POST", base, "{\"cron\": \"0 6 * * *\", \"catchUp\": \"sometimes\"}"), 400,
        "schedule.invalid");
    assertProblem(api.call("POST", base, "{\"cron\": \"0 6 * * *\", \"maxCatchUp\": 0}"), 400, "schedule.invalid");
    assertProblem(api.call("POST", base, "{\"cron\": \"0 6 * * *\", \"params\": {\"nope\": 1}}"), 400,
        "schedule.invalid");
    // The body's shape is JsonBody's, as on every JSON route: unknown fields and broken JSON are request.*.
    assertProblem(api.call("POST", base, "{\"cron\": \"0 6 * * *\", \"colour\": \"red\"}"), 400, "request.invalid");
    assertProblem(api.call("POST", base, "not json"), 400, "request.json-malformed");
    assertProblem(api.call("POST", base, "{\"cron\": \"0 6 * * *\", \"maxCatchUp\": 1.5}"), 400, "schedule.invalid");
    assertProblem(api.call("POST", base, "{\"cron\": 6}"), 400, "schedule.invalid-cron");
    assertProblem(api.call("POST", "/api/v1/workflows/nobody/schedules", "{\"cron\": \"0 6 * * *\"}"), 404,
        "workflow.not-found");
    String unknown = "/" + java.util.UUID.randomUUID();
    assertProblem(api.call("GET", base + unknown, null), 404, "schedule.not-found");
    assertProblem(api.call("POST", base + unknown + "/actions/enable", null), 404, "schedule.not-found");
    assertProblem(api.call("GET", base + "/no-such-schedule", null), 400, "schedule.id-invalid");
    assertProblem(api.call("GET", base + "?next=1000", null), 400, "request.invalid");
  }

  @Test
  void aScheduleShowsItsNextFireTimesInItsZoneAndCanBeDisabledEnabledAndDeleted() throws Exception {
    String base = "/api/v1/workflows/nightly/schedules";
    HttpResponse<String> created = api.call("POST", base, "{\"cron\": \"30 6 * * *\", \"timeZone\": \"Asia/Kolkata\","
        + " \"catchUp\": \"latest-once\"}");
    assertEquals(201, created.statusCode(), created.body());
    JsonNode s = json(created);
    String id = s.get("scheduleId").asText();
    assertEquals("latest-once", s.get("catchUp").asText());
    assertEquals(5, s.get("nextFireTimes").size());
    // 06:30 in Kolkata (UTC+05:30, no DST) is 01:00 UTC, every day.
    for (JsonNode t : s.get("nextFireTimes")) {
      assertTrue(t.asText().endsWith("T01:00:00Z"), s.toString());
    }
    assertEquals(3, json(api.call("GET", base + "/" + id + "?next=3", null)).get("nextFireTimes").size());

    JsonNode disabled = json(api.call("POST", base + "/" + id + "/actions/disable", null));
    assertEquals(false, disabled.get("enabled").asBoolean());
    assertEquals(0, disabled.get("nextFireTimes").size(), "a disabled schedule has no next fire times");
    JsonNode enabled = json(api.call("POST", base + "/" + id + "/actions/enable", null));
    assertEquals(true, enabled.get("enabled").asBoolean());
    assertEquals(5, enabled.get("nextFireTimes").size());

    JsonNode list = json(api.call("GET", base, null));
    assertTrue(list.get("schedules").findValuesAsText("scheduleId").contains(id), list.toString());
    assertEquals(204, api.call("DELETE", base + "/" + id, null).statusCode());
    assertProblem(api.call("GET", base + "/" + id, null), 404, "schedule.not-found");
  }

  @Test
  void aPerSecondScheduleStartsInstancesWhoseLineageNamesIt() throws Exception {
    String base = "/api/v1/workflows/nightly/schedules";
    HttpResponse<String> created = api.call("POST", base, "{\"cron\": \"* * * * * *\", \"params\": {\"region\": \"us\"}}");
    assertEquals(201, created.statusCode(), created.body());
    String id = json(created).get("scheduleId").asText();
    JsonNode[] fires = new JsonNode[1];
    JsonNode[] started = new JsonNode[1];
    Eventually.await(Duration.ofSeconds(30), () -> {
      try {
        fires[0] = json(api.call("GET", base + "/" + id + "/fires", null)).get("fires");
        // Fires are recorded before their instance starts: pick one whose start is recorded.
        started[0] = null;
        fires[0].forEach(f -> {
          if (started[0] == null && !f.path("startedAt").isNull() && f.path("startError").isNull()) {
            started[0] = f;
          }
        });
        return fires[0].size() >= 3 && started[0] != null;
      } catch (Exception e) {
        return false;
      }
    }, () -> "three fires, one started; last seen " + fires[0]);
    assertEquals(200, api.call("POST", base + "/" + id + "/actions/disable", null).statusCode());
    JsonNode fire = started[0];
    Instant scheduled = Instant.parse(fire.get("scheduledTime").asText());
    assertEquals(0, scheduled.getNano(), "a per-second schedule fires on whole seconds");
    assertTrue(!Instant.parse(fire.get("firedAt").asText()).isBefore(scheduled), fire.toString());

    String instanceId = fire.get("instanceId").asText();
    JsonNode instance = json(api.call("GET", "/api/v1/workflows/nightly/instances/" + instanceId, null));
    assertEquals("us", instance.at("/params/region").asText(), "the schedule's params reach the instance");
    assertEquals("schedule:" + id + "@" + scheduled, instance.get("requestId").asText());
    JsonNode lineage = json(api.call("GET", "/api/v1/workflows/nightly/instances/" + instanceId + "/lineage", null));
    assertEquals("schedule", lineage.at("/startedBy/type").asText(), lineage.toString());
    assertEquals(id, lineage.at("/startedBy/scheduleId").asText());
    assertEquals(scheduled, Instant.parse(lineage.at("/startedBy/scheduledTime").asText()));

    // An instance started by hand says so.
    HttpResponse<String> manual = api.call("POST", "/api/v1/workflows/nightly/instances", "{}");
    assertEquals(201, manual.statusCode(), manual.body());
    JsonNode manualLineage = json(api.call("GET", "/api/v1/workflows/nightly/instances/"
        + json(manual).get("instanceId").asText() + "/lineage", null));
    assertEquals("api", manualLineage.at("/startedBy/type").asText(), manualLineage.toString());
    assertProblem(api.call("GET", "/api/v1/workflows/nightly/instances/" + java.util.UUID.randomUUID() + "/lineage", null),
        404, "workflow.instance-not-found");
    assertProblem(api.call("GET", "/api/v1/workflows/nightly/instances/nope/lineage", null), 400,
        "workflow.instance-id-invalid");
  }
}
