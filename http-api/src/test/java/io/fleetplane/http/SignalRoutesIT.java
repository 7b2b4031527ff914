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
import io.fleetplane.jobs.workflow.WorkflowEngine;
import io.fleetplane.jobs.workflow.schedule.WorkflowSchedules;
import io.fleetplane.jobs.workflow.signal.WorkflowSignals;
import io.fleetplane.persistence.DatabaseMigrations;
import io.fleetplane.persistence.PersistenceSettings;
import io.fleetplane.testkit.infra.PostgresEndpoint;
import io.fleetplane.testkit.infra.TestPostgres;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Signals and subscriptions over real HTTP, on a real engine and journal. */
class SignalRoutesIT {

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
    system = ActorSystem.create(Behaviors.empty(), "signal-routes-it", FleetplaneConfig.load(c));
    Cluster.get(system).manager().tell(Join.create(Cluster.get(system).selfMember().address()));
    WorkflowEngine engine = WorkflowEngine.start(system);
    WorkflowSignals signals = WorkflowSignals.start(system);
    SignalRoutes signalRoutes = new SignalRoutes(signals, new JsonBody(64 * 1024, 5_000));
    ScheduleRoutes schedules = new ScheduleRoutes(engine, WorkflowSchedules.start(system), signals,
        new JsonBody(64 * 1024, 5_000));
    WorkflowRoutes workflows = new WorkflowRoutes(engine);
    ErrorHandling errors = new ErrorHandling();
    binding = Http.get(system).newServerAt("127.0.0.1", 0)
        .bind(errors.wrap(() -> errors.pathPrefix("api", () -> errors.pathPrefix("v1", () ->
            Directives.concat(signalRoutes.signalRoutes(), signalRoutes.subscriptionRoutes(), schedules.routes(),
                workflows.routes())))))
        .toCompletableFuture().get(10, TimeUnit.SECONDS);
    for (String id : new String[] {"load-orders", "audit"}) {
      HttpResponse<String> stored = call("POST", "/api/v1/workflows", """
          id: %s
          owner: it
          params: {day: none, table: none}
          steps:
            - {id: a, type: noop, params: {day: "${params.day}"}}
          """.formatted(id));
      assertEquals(201, stored.statusCode(), stored.body());
    }
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

  private static int instancesOf(String workflowId) throws Exception {
    // Counted from the journal: every instance that ever started, whatever the API says.
    try (Connection c = DriverManager.getConnection(db.jdbcUrl(), db.user(), db.password());
        Statement st = c.createStatement();
        ResultSet rs = st.executeQuery("SELECT COUNT(DISTINCT persistence_id) FROM event_journal"
            + " WHERE persistence_id LIKE 'WorkflowInstance|%'")) {
      rs.next();
      return rs.getInt(1);
    }
  }

  @Test
  void theSameSignalDeliveredThreeTimesStartsOneInstanceWithMappedParamsAndLineageBothWays() throws Exception {
    HttpResponse<String> sub = call("POST", "/api/v1/workflows/load-orders/subscriptions", """
        {"signal": "table-landed", "condition": "params.table == 'orders'",
         "params": {"day": "${params.partition}", "table": "${params.table}"}}""");
    assertEquals(201, sub.statusCode(), sub.body());
    String subscriptionId = json(sub).get("subscriptionId").asText();
    int before = instancesOf("load-orders");

    String signal = """
        {"signalId": "orders-2026-11-23", "name": "table-landed", "time": "2026-11-23T04:00:00Z",
         "params": {"table": "orders", "partition": "2026-11-23"}}""";
    HttpResponse<String> first = call("POST", "/api/v1/signals", signal);
    assertEquals(201, first.statusCode(), first.body());
    assertEquals(1, json(first).get("triggered").size(), first.body());
    String instanceId = json(first).at("/triggered/0/instanceId").asText();
    for (int i = 0; i < 2; i++) {
      HttpResponse<String> again = call("POST", "/api/v1/signals", signal);
      assertEquals(200, again.statusCode(), "a known signal id: " + again.body());
      assertTrue(json(again).get("duplicate").asBoolean());
      assertEquals(instanceId, json(again).at("/triggered/0/instanceId").asText(), "the same instance");
    }
    assertEquals(before + 1, instancesOf("load-orders"), "three deliveries, one instance in the journal");

    JsonNode instance = json(call("GET", "/api/v1/workflows/load-orders/instances/" + instanceId, null));
    assertEquals("2026-11-23", instance.at("/params/day").asText(), "signal params mapped to workflow params");
    assertEquals("orders", instance.at("/params/table").asText());
    JsonNode lineage = json(call("GET", "/api/v1/workflows/load-orders/instances/" + instanceId + "/lineage", null));
    assertEquals("signal", lineage.at("/startedBy/type").asText(), lineage.toString());
    assertEquals("orders-2026-11-23", lineage.at("/startedBy/signalId").asText());
    assertEquals(subscriptionId, lineage.at("/startedBy/subscriptionId").asText());
    JsonNode forward = json(call("GET", "/api/v1/signals/orders-2026-11-23", null));
    assertEquals("table-landed", forward.at("/signal/name").asText());
    assertEquals(instanceId, forward.at("/triggered/0/instanceId").asText(), forward.toString());
    assertEquals("load-orders", forward.at("/triggered/0/workflowId").asText());
  }

  @Test
  void aSignalThatFailsTheConditionStartsNothingAndOneSignalCanStartSeveralWorkflows() throws Exception {
    assertEquals(201, call("POST", "/api/v1/workflows/audit/subscriptions",
        "{\"signal\": \"fleet-done\"}").statusCode());
    assertEquals(201, call("POST", "/api/v1/workflows/load-orders/subscriptions",
        "{\"signal\": \"fleet-done\", \"condition\": \"params.ok\"}").statusCode());
    HttpResponse<String> notOk = call("POST", "/api/v1/signals",
        "{\"signalId\": \"done-1\", \"name\": \"fleet-done\", \"params\": {\"ok\": false}}");
    assertEquals(1, json(notOk).get("triggered").size(), "only the unconditional subscription: " + notOk.body());
    assertEquals("audit", json(notOk).at("/triggered/0/workflowId").asText());
    HttpResponse<String> ok = call("POST", "/api/v1/signals",
        "{\"signalId\": \"done-2\", \"name\": \"fleet-done\", \"params\": {\"ok\": true}}");
    assertEquals(2, json(ok).get("triggered").size(), ok.body());
  }

  @Test
  void badSignalsAndSubscriptionsAreRejectedWithTheirCodes() throws Exception {
    assertProblem(call("POST", "/api/v1/signals", "{\"params\": {}}"), 400, "signal.invalid");
    assertProblem(call("POST", "/api/v1/signals", "{\"name\": \"has space\"}"), 400, "signal.invalid");
    assertProblem(call("POST", "/api/v1/signals", "{\"name\": \"x\", \"time\": \"yesterday\"}"), 400,
        "signal.invalid");
    assertProblem(call("POST", "/api/v1/signals", "{\"name\": \"x\", \"signalId\": \"a b\"}"), 400,
        "signal.invalid");
    // The body's shape is JsonBody's, as on every JSON route: unknown fields and broken JSON are request.*.
    assertProblem(call("POST", "/api/v1/signals", "{\"name\": \"x\", \"colour\": 1}"), 400, "request.invalid");
    assertProblem(call("POST", "/api/v1/signals", "[]"), 400, "request.json-malformed");
    assertProblem(call("GET", "/api/v1/signals/has%20space", null), 400, "signal.id-invalid");
    assertProblem(call("GET", "/api/v1/signals/never-sent", null), 404, "signal.not-found");
    String subs = "/api/v1/workflows/load-orders/subscriptions";
    assertProblem(call("POST", subs, "{\"signal\": \"x\", \"condition\": \"params.(\"}"), 400,
        "subscription.invalid");
    assertProblem(call("POST", subs, "{\"signal\": \"x\", \"params\": {\"undeclared\": 1}}"), 400,
        "subscription.invalid");
    assertProblem(call("POST", "/api/v1/workflows/nobody/subscriptions", "{\"signal\": \"x\"}"), 404,
        "workflow.not-found");
    assertProblem(call("GET", subs + "/" + java.util.UUID.randomUUID(), null), 404, "subscription.not-found");
    assertProblem(call("GET", subs + "/nope", null), 400, "subscription.id-invalid");
    HttpResponse<String> created = call("POST", subs, "{\"signal\": \"gone\"}");
    String id = json(created).get("subscriptionId").asText();
    assertTrue(json(call("GET", subs, null)).get("subscriptions").findValuesAsText("subscriptionId").contains(id));
    assertEquals(204, call("DELETE", subs + "/" + id, null).statusCode());
    assertProblem(call("GET", subs + "/" + id, null), 404, "subscription.not-found");
  }
}
