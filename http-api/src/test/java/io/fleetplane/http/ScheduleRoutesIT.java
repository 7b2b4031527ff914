package io.fleetplane.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.actor.typed.ActorSystem;
import akka.actor.typed.javadsl.Behaviors;
import akka.cluster.typed.Cluster;
import akka.cluster.typed.Join;
import akka.http.javadsl.Http;
import akka.http.javadsl.ServerBinding;
import akka.http.javadsl.server.Directives;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fleetplane.config.FleetplaneConfig;
import io.fleetplane.config.metrics.Metrics;
import io.fleetplane.jobs.workflow.WorkflowEngine;
import io.fleetplane.jobs.workflow.schedule.WorkflowSchedules;
import io.fleetplane.persistence.DatabaseMigrations;
import io.fleetplane.persistence.PersistenceSettings;
import io.fleetplane.testkit.Eventually;
import io.fleetplane.testkit.infra.PostgresEndpoint;
import io.fleetplane.testkit.infra.TestPostgres;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The schedule API over real HTTP, on a real engine, scheduler singleton and journal. */
class ScheduleRoutesIT {

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
    system = ActorSystem.create(Behaviors.empty(), "schedule-routes-it", FleetplaneConfig.load(c));
    Cluster.get(system).manager().tell(Join.create(Cluster.get(system).selfMember().address()));
    WorkflowEngine engine = WorkflowEngine.start(system);
    ScheduleRoutes schedules = new ScheduleRoutes(engine, WorkflowSchedules.start(system),
        io.fleetplane.jobs.workflow.signal.WorkflowSignals.start(system), new JsonBody(64 * 1024, 5_000));
    WorkflowRoutes workflows = new WorkflowRoutes(engine);
    ErrorHandling errors = new ErrorHandling();
    binding = Http.get(system).newServerAt("127.0.0.1", 0)
        .bind(errors.wrap(() -> errors.pathPrefix("api", () -> errors.pathPrefix("v1", () ->
            Directives.concat(schedules.routes(), workflows.routes())))))
        .toCompletableFuture().get(10, TimeUnit.SECONDS);
    HttpResponse<String> stored = call("POST", "/api/v1/workflows", """
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
    binding.unbind();
    system.terminate();
    system.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
    TestPostgres.dropSchema(db);
  }

  private static HttpResponse<String> call(String method, String path, String body) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + binding.localAddress().getPort()
        + path)).timeout(Duration.ofSeconds(15));
    if (body != null) {
      b.header("Content-Type", path.equals("/api/v1/workflows") ? "application/yaml" : "application/json");
    }
    b.method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
    return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  private static JsonNode json(HttpResponse<String> r) throws Exception {
    return JSON.readTree(r.body());
  }

  private static void assertProblem(HttpResponse<String> r, int status, String code) throws Exception {
    assertEquals(status, r.statusCode(), r.body());
    assertEquals("application/problem+json", r.headers().firstValue("Content-Type").orElse(""), r.body());
    assertEquals(code, json(r).get("code").asText(), r.body());
  }

  @Test
  void badSchedulesAreRejectedWithTheirOwnCodesAndCounted() throws Exception {
    String base = "/api/v1/workflows/nightly/schedules";
    long before = Metrics.count("fleetplane_workflows_rejected_requests", Map.of("code", "schedule.invalid-cron"));
    assertProblem(call("POST", base, "{\"cron\": \"61 * * * *\"}"), 400, "schedule.invalid-cron");
    assertEquals(before + 1, Metrics.count("fleetplane_workflows_rejected_requests",
        Map.of("code", "schedule.invalid-cron")));
    assertProblem(call("POST", base, "{\"period\": \"fortnightly\"}"), 400, "schedule.invalid-cron");
    assertProblem(call("POST", base, "{\"cron\": \"0 6 * * *\", \"timeZone\": \"Mars/Olympus\"}"), 400,
        "schedule.invalid-time-zone");
    assertProblem(call("POST", base, "{\"cron\": \"0 6 * * *\", \"period\": \"daily\"}"), 400, "schedule.invalid");
    assertProblem(call("POST", base, "{\"cron\": \"0 6 * * *\", \"catchUp\": \"sometimes\"}"), 400,
        "schedule.invalid");
    assertProblem(call("POST", base, "{\"cron\": \"0 6 * * *\", \"maxCatchUp\": 0}"), 400, "schedule.invalid");
    assertProblem(call("POST", base, "{\"cron\": \"0 6 * * *\", \"params\": {\"nope\": 1}}"), 400,
        "schedule.invalid");
    // The body's shape is JsonBody's, as on every JSON route: unknown fields and broken JSON are request.*.
    assertProblem(call("POST", base, "{\"cron\": \"0 6 * * *\", \"colour\": \"red\"}"), 400, "request.invalid");
    assertProblem(call("POST", base, "not json"), 400, "request.json-malformed");
    assertProblem(call("POST", base, "{\"cron\": \"0 6 * * *\", \"maxCatchUp\": 1.5}"), 400, "schedule.invalid");
    assertProblem(call("POST", base, "{\"cron\": 6}"), 400, "schedule.invalid-cron");
    assertProblem(call("POST", "/api/v1/workflows/nobody/schedules", "{\"cron\": \"0 6 * * *\"}"), 404,
        "workflow.not-found");
    String unknown = "/" + java.util.UUID.randomUUID();
    assertProblem(call("GET", base + unknown, null), 404, "schedule.not-found");
    assertProblem(call("POST", base + unknown + "/actions/enable", null), 404, "schedule.not-found");
    assertProblem(call("GET", base + "/no-such-schedule", null), 400, "schedule.id-invalid");
    assertProblem(call("GET", base + "?next=1000", null), 400, "request.invalid");
  }

  @Test
  void aScheduleShowsItsNextFireTimesInItsZoneAndCanBeDisabledEnabledAndDeleted() throws Exception {
    String base = "/api/v1/workflows/nightly/schedules";
    HttpResponse<String> created = call("POST", base, "{\"cron\": \"30 6 * * *\", \"timeZone\": \"Asia/Kolkata\","
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
    assertEquals(3, json(call("GET", base + "/" + id + "?next=3", null)).get("nextFireTimes").size());

    JsonNode disabled = json(call("POST", base + "/" + id + "/actions/disable", null));
    assertEquals(false, disabled.get("enabled").asBoolean());
    assertEquals(0, disabled.get("nextFireTimes").size(), "a disabled schedule has no next fire times");
    JsonNode enabled = json(call("POST", base + "/" + id + "/actions/enable", null));
    assertEquals(true, enabled.get("enabled").asBoolean());
    assertEquals(5, enabled.get("nextFireTimes").size());

    JsonNode list = json(call("GET", base, null));
    assertTrue(list.get("schedules").findValuesAsText("scheduleId").contains(id), list.toString());
    assertEquals(204, call("DELETE", base + "/" + id, null).statusCode());
    assertProblem(call("GET", base + "/" + id, null), 404, "schedule.not-found");
  }

  @Test
  void aPerSecondScheduleStartsInstancesWhoseLineageNamesIt() throws Exception {
    String base = "/api/v1/workflows/nightly/schedules";
    HttpResponse<String> created = call("POST", base, "{\"cron\": \"* * * * * *\", \"params\": {\"region\": \"us\"}}");
    assertEquals(201, created.statusCode(), created.body());
    String id = json(created).get("scheduleId").asText();
    JsonNode[] fires = new JsonNode[1];
    Eventually.await(Duration.ofSeconds(30), () -> {
      try {
        fires[0] = json(call("GET", base + "/" + id + "/fires", null)).get("fires");
        return fires[0].size() >= 3;
      } catch (Exception e) {
        return false;
      }
    }, () -> "three fires; last seen " + fires[0]);
    assertEquals(200, call("POST", base + "/" + id + "/actions/disable", null).statusCode());
    JsonNode fire = fires[0].get(0);
    Instant scheduled = Instant.parse(fire.get("scheduledTime").asText());
    assertEquals(0, scheduled.getNano(), "a per-second schedule fires on whole seconds");
    assertTrue(!Instant.parse(fire.get("firedAt").asText()).isBefore(scheduled), fire.toString());

    String instanceId = fire.get("instanceId").asText();
    JsonNode instance = json(call("GET", "/api/v1/workflows/nightly/instances/" + instanceId, null));
    assertEquals("us", instance.at("/params/region").asText(), "the schedule's params reach the instance");
    assertEquals("schedule:" + id + "@" + scheduled, instance.get("requestId").asText());
    JsonNode lineage = json(call("GET", "/api/v1/workflows/nightly/instances/" + instanceId + "/lineage", null));
    assertEquals("schedule", lineage.at("/startedBy/type").asText(), lineage.toString());
    assertEquals(id, lineage.at("/startedBy/scheduleId").asText());
    assertEquals(scheduled, Instant.parse(lineage.at("/startedBy/scheduledTime").asText()));

    // An instance started by hand says so.
    HttpResponse<String> manual = call("POST", "/api/v1/workflows/nightly/instances", "{}");
    assertEquals(201, manual.statusCode(), manual.body());
    JsonNode manualLineage = json(call("GET", "/api/v1/workflows/nightly/instances/"
        + json(manual).get("instanceId").asText() + "/lineage", null));
    assertEquals("api", manualLineage.at("/startedBy/type").asText(), manualLineage.toString());
    assertProblem(call("GET", "/api/v1/workflows/nightly/instances/" + java.util.UUID.randomUUID() + "/lineage", null),
        404, "workflow.instance-not-found");
    assertProblem(call("GET", "/api/v1/workflows/nightly/instances/nope/lineage", null), 400,
        "workflow.instance-id-invalid");
  }
}
