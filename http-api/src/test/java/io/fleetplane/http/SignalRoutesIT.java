package io.fleetplane.http;

import static io.fleetplane.http.WorkflowApiFixture.assertProblem;
import static io.fleetplane.http.WorkflowApiFixture.json;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.http.javadsl.server.Directives;
import com.fasterxml.jackson.databind.JsonNode;
import io.fleetplane.jobs.workflow.WorkflowEngine;
import io.fleetplane.jobs.workflow.schedule.WorkflowSchedules;
import io.fleetplane.jobs.workflow.signal.WorkflowSignals;
import java.net.http.HttpResponse;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Signals and subscriptions over real HTTP, on a real engine and journal. */
class SignalRoutesIT {

  private static WorkflowApiFixture api;

  @BeforeAll
  static void up() throws Exception {
    api = WorkflowApiFixture.start("signal-routes-it", system -> {
      WorkflowEngine engine = WorkflowEngine.start(system);
      WorkflowSignals signals = WorkflowSignals.start(system);
      SignalRoutes signalRoutes = new SignalRoutes(signals, new JsonBody(64 * 1024, 5_000));
      ScheduleRoutes schedules = new ScheduleRoutes(engine, WorkflowSchedules.start(system), signals,
          new JsonBody(64 * 1024, 5_000));
      WorkflowRoutes workflows = new WorkflowRoutes(engine);
      return Directives.concat(signalRoutes.signalRoutes(), signalRoutes.subscriptionRoutes(), schedules.routes(),
          workflows.routes());
    });
    for (String id : new String[] {"load-orders", "audit"}) {
      HttpResponse<String> stored = api.call("POST", "/api/v1/workflows", """
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
    api.close();
  }

  private static int instancesOf(String workflowId) throws Exception {
    // Counted from the journal: every instance that ever started, whatever the API says.
    try (Connection c = DriverManager.getConnection(api.db.jdbcUrl(), api.db.user(), api.db.password());
        Statement st = c.createStatement();
        ResultSet rs = st.executeQuery("SELECT COUNT(DISTINCT persistence_id) FROM event_journal"
            + " WHERE persistence_id LIKE 'WorkflowInstance|%'")) {
      rs.next();
      return rs.getInt(1);
    }
  }

  @Test
  void theSameSignalDeliveredThreeTimesStartsOneInstanceWithMappedParamsAndLineageBothWays() throws Exception {
    HttpResponse<String> sub = api.call("POST", "/api/v1/workflows/load-orders/subscriptions", """
        {"signal": "table-landed", "condition": "params.table == 'orders'",
         "params": {"day": "${params.partition}", "table": "${params.table}"}}""");
    assertEquals(201, sub.statusCode(), sub.body());
    String subscriptionId = json(sub).get("subscriptionId").asText();
    int before = instancesOf("load-orders");

    String signal = """
        {"signalId": "orders-2026-11-23", "name": "table-landed", "time": "2026-11-23T04:00:00Z",
         "params": {"table": "orders", "partition": "2026-11-23"}}""";
    HttpResponse<String> first = api.call("POST", "/api/v1/signals", signal);
    assertEquals(201, first.statusCode(), first.body());
    assertEquals(1, json(first).get("triggered").size(), first.body());
    String instanceId = json(first).at("/triggered/0/instanceId").asText();
    for (int i = 0; i < 2; i++) {
      HttpResponse<String> again = api.call("POST", "/api/v1/signals", signal);
      assertEquals(200, again.statusCode(), "a known signal id: " + again.body());
      assertTrue(json(again).get("duplicate").asBoolean());
      assertEquals(instanceId, json(again).at("/triggered/0/instanceId").asText(), "the same instance");
    }
    assertEquals(before + 1, instancesOf("load-orders"), "three deliveries, one instance in the journal");

    JsonNode instance = json(api.call("GET", "/api/v1/workflows/load-orders/instances/" + instanceId, null));
    assertEquals("2026-11-23", instance.at("/params/day").asText(), "signal params mapped to workflow params");
    assertEquals("orders", instance.at("/params/table").asText());
    JsonNode lineage = json(api.call("GET", "/api/v1/workflows/load-orders/instances/" + instanceId + "/lineage", null));
    assertEquals("signal", lineage.at("/startedBy/type").asText(), lineage.toString());
    assertEquals("orders-2026-11-23", lineage.at("/startedBy/signalId").asText());
    assertEquals(subscriptionId, lineage.at("/startedBy/subscriptionId").asText());
    JsonNode forward = json(api.call("GET", "/api/v1/signals/orders-2026-11-23", null));
    assertEquals("table-landed", forward.at("/signal/name").asText());
    assertEquals(instanceId, forward.at("/triggered/0/instanceId").asText(), forward.toString());
    assertEquals("load-orders", forward.at("/triggered/0/workflowId").asText());
  }

  @Test
  void aSignalThatFailsTheConditionStartsNothingAndOneSignalCanStartSeveralWorkflows() throws Exception {
    assertEquals(201, api.call("POST", "/api/v1/workflows/audit/subscriptions",
        "{\"signal\": \"fleet-done\"}").statusCode());
    assertEquals(201, api.call("POST", "/api/v1/workflows/load-orders/subscriptions",
        "{\"signal\": \"fleet-done\", \"condition\": \"params.ok\"}").statusCode());
    HttpResponse<String> notOk = api.call("POST", "/api/v1/signals",
        "{\"signalId\": \"done-1\", \"name\": \"fleet-done\", \"params\": {\"ok\": false}}");
    assertEquals(1, json(notOk).get("triggered").size(), "only the unconditional subscription: " + notOk.body());
    assertEquals("audit", json(notOk).at("/triggered/0/workflowId").asText());
    HttpResponse<String> ok = api.call("POST", "/api/v1/signals",
        "{\"signalId\": \"done-2\", \"name\": \"fleet-done\", \"params\": {\"ok\": true}}");
    assertEquals(2, json(ok).get("triggered").size(), ok.body());
  }

  @Test
  void badSignalsAndSubscriptionsAreRejectedWithTheirCodes() throws Exception {
    assertProblem(api.call("POST", "/api/v1/signals", "{\"params\": {}}"), 400, "signal.invalid");
    assertProblem(api.call("POST", "/api/v1/signals", "{\"name\": \"has space\"}"), 400, "signal.invalid");
    assertProblem(api.call("POST", "/api/v1/signals", "{\"name\": \"x\", \"time\": \"yesterday\"}"), 400,
        "signal.invalid");
    assertProblem(api.call("POST", "/api/v1/signals", "{\"name\": \"x\", \"signalId\": \"a b\"}"), 400,
        "signal.invalid");
    // The body's shape is JsonBody's, as on every JSON route: unknown fields and broken JSON are request.*.
    assertProblem(api.call("POST", "/api/v1/signals", "{\"name\": \"x\", \"colour\": 1}"), 400, "request.invalid");
    assertProblem(api.call("POST", "/api/v1/signals", "[]"), 400, "request.json-malformed");
    assertProblem(api.call("GET", "/api/v1/signals/has%20space", null), 400, "signal.id-invalid");
    assertProblem(api.call("GET", "/api/v1/signals/never-sent", null), 404, "signal.not-found");
    String subs = "/api/v1/workflows/load-orders/subscriptions";
    assertProblem(api.call("POST", subs, "{\"signal\": \"x\", \"condition\": \"params.(\"}"), 400,
        "subscription.invalid");
    assertProblem(api.call("POST", subs, "{\"signal\": \"x\", \"params\": {\"undeclared\": 1}}"), 400,
        "subscription.invalid");
    assertProblem(api.call("POST", "/api/v1/workflows/nobody/subscriptions", "{\"signal\": \"x\"}"), 404,
        "workflow.not-found");
    assertProblem(api.call("GET", subs + "/" + java.util.UUID.randomUUID(), null), 404, "subscription.not-found");
    assertProblem(api.call("GET", subs + "/nope", null), 400, "subscription.id-invalid");
    HttpResponse<String> created = api.call("POST", subs, "{\"signal\": \"gone\"}");
    String id = json(created).get("subscriptionId").asText();
    assertTrue(json(api.call("GET", subs, null)).get("subscriptions").findValuesAsText("subscriptionId").contains(id));
    assertEquals(204, api.call("DELETE", subs + "/" + id, null).statusCode());
    assertProblem(api.call("GET", subs + "/" + id, null), 404, "subscription.not-found");
  }
}
