package io.fleetplane.http;

import static io.fleetplane.http.WorkflowApiFixture.json;
import static org.junit.jupiter.api.Assertions.assertEquals;

import akka.http.javadsl.server.Directives;
import com.fasterxml.jackson.databind.JsonNode;
import io.fleetplane.jobs.workflow.WorkflowEngine;
import io.fleetplane.jobs.workflow.schedule.WorkflowSchedules;
import io.fleetplane.jobs.workflow.signal.WorkflowSignals;
import io.fleetplane.testkit.Eventually;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Three workflows linked by signals, driven and read only over HTTP: A's last step publishes S1;
 * B is subscribed to S1 and its last step publishes S2; C (started by hand, before A) has a step
 * gated on S2. Lineage answers both ways across the chain: from C back to A
 * (C -> S2 -> B -> S1 -> A) and from S1 forwards to C (S1 -> B -> S2 -> C).
 */
class SignalLineageChainIT {

  private static WorkflowApiFixture api;

  @BeforeAll
  static void up() throws Exception {
    api = WorkflowApiFixture.start("signal-lineage-chain-it", system -> {
      WorkflowEngine engine = WorkflowEngine.start(system);
      WorkflowSignals signals = WorkflowSignals.start(system);
      SignalRoutes signalRoutes = new SignalRoutes(signals, new JsonBody(64 * 1024, 5_000));
      ScheduleRoutes schedules = new ScheduleRoutes(engine, WorkflowSchedules.start(system), signals,
          new JsonBody(64 * 1024, 5_000));
      return Directives.concat(signalRoutes.signalRoutes(), signalRoutes.subscriptionRoutes(), schedules.routes(),
          new WorkflowRoutes(engine).routes());
    });
  }

  @AfterAll
  static void down() throws Exception {
    api.close();
  }

  private static void store(String yaml) throws Exception {
    HttpResponse<String> r = api.call("POST", "/api/v1/workflows", yaml);
    assertEquals(201, r.statusCode(), r.body());
  }

  private static JsonNode get(String path) throws Exception {
    HttpResponse<String> r = api.call("GET", path, null);
    assertEquals(200, r.statusCode(), path + ": " + r.body());
    return json(r);
  }

  private static JsonNode awaitSucceeded(String workflowId, String instanceId) {
    String path = "/api/v1/workflows/" + workflowId + "/instances/" + instanceId;
    JsonNode[] last = new JsonNode[1];
    Eventually.await(Duration.ofSeconds(40), () -> {
      try {
        last[0] = json(api.call("GET", path, null));
        return "SUCCEEDED".equals(last[0].path("status").asText());
      } catch (Exception e) {
        return false;
      }
    }, () -> path + " succeeds; last " + last[0]);
    return last[0];
  }

  private static List<String> texts(JsonNode array, String field) {
    List<String> out = new ArrayList<>();
    array.forEach(n -> out.add(n.path(field).asText()));
    return out;
  }

  @Test
  void lineageAnswersBothWaysAcrossThreeWorkflowsLinkedBySignals() throws Exception {
    store("""
        id: chain-a
        owner: it
        params: {batch: none}
        steps:
          - {id: extract, type: noop, params: {rows: 3}}
          - id: announce
            type: signal
            dependsOn: [extract]
            params: {name: chain.s1, params: {batch: "${params.batch}"}}
        """);
    store("""
        id: chain-b
        owner: it
        params: {batch: none}
        steps:
          - {id: transform, type: noop}
          - id: announce
            type: signal
            dependsOn: [transform]
            params: {name: chain.s2, params: {batch: "${params.batch}"}}
        """);
    store("""
        id: chain-c
        owner: it
        params: {batch: none}
        steps:
          - {id: prepare, type: noop}
          - id: publish
            type: noop
            dependsOn: [prepare]
            gate: {signal: chain.s2, condition: "signal.params.batch == params.batch"}
        """);
    HttpResponse<String> sub = api.call("POST", "/api/v1/workflows/chain-b/subscriptions",
        "{\"signal\": \"chain.s1\", \"params\": {\"batch\": \"${params.batch}\"}}");
    assertEquals(201, sub.statusCode(), sub.body());

    // C first: its gated step waits for B's signal. Another batch's S2 must not open it.
    HttpResponse<String> c = api.call("POST", "/api/v1/workflows/chain-c/instances", "{\"params\": {\"batch\": \"b-7\"}}");
    assertEquals(201, c.statusCode(), c.body());
    String cId = json(c).get("instanceId").asText();
    assertEquals(201, api.call("POST", "/api/v1/signals",
        "{\"signalId\": \"other-batch\", \"name\": \"chain.s2\", \"params\": {\"batch\": \"b-8\"}}").statusCode());
    HttpResponse<String> a = api.call("POST", "/api/v1/workflows/chain-a/instances", "{\"params\": {\"batch\": \"b-7\"}}");
    assertEquals(201, a.statusCode(), a.body());
    String aId = json(a).get("instanceId").asText();

    JsonNode aDone = awaitSucceeded("chain-a", aId);
    String s1 = aDone.at("/steps/1/outputs/signalId").asText();
    String bId = aDone.at("/steps/1/outputs/triggered/0").asText();
    JsonNode bDone = awaitSucceeded("chain-b", bId);
    String s2 = bDone.at("/steps/1/outputs/signalId").asText();
    awaitSucceeded("chain-c", cId);

    // Backwards: C -> S2 -> B -> S1 -> A.
    JsonNode cLineage = get("/api/v1/workflows/chain-c/instances/" + cId + "/lineage");
    assertEquals("api", cLineage.at("/startedBy/type").asText(), cLineage.toString());
    assertEquals(List.of(s2), texts(cLineage.get("unblockedBy"), "signalId"), cLineage.toString());
    assertEquals("publish", cLineage.at("/unblockedBy/0/stepId").asText());
    assertEquals(List.of(), texts(cLineage.get("published"), "signalId"));

    JsonNode s2Lineage = get("/api/v1/signals/" + s2);
    assertEquals(bId, s2Lineage.at("/publishedBy/instanceId").asText(), s2Lineage.toString());
    assertEquals("chain-b", s2Lineage.at("/publishedBy/workflowId").asText());
    assertEquals("announce", s2Lineage.at("/publishedBy/stepId").asText());

    JsonNode bLineage = get("/api/v1/workflows/chain-b/instances/" + bId + "/lineage");
    assertEquals("signal", bLineage.at("/startedBy/type").asText(), bLineage.toString());
    assertEquals(s1, bLineage.at("/startedBy/signalId").asText());
    assertEquals(List.of(), texts(bLineage.get("unblockedBy"), "signalId"));

    JsonNode s1Lineage = get("/api/v1/signals/" + s1);
    assertEquals(aId, s1Lineage.at("/publishedBy/instanceId").asText(), s1Lineage.toString());
    assertEquals("chain-a", s1Lineage.at("/publishedBy/workflowId").asText());

    JsonNode aLineage = get("/api/v1/workflows/chain-a/instances/" + aId + "/lineage");
    assertEquals("api", aLineage.at("/startedBy/type").asText(), aLineage.toString());

    // Forwards: A -> S1 -> B -> S2 -> C.
    assertEquals(List.of(s1), texts(aLineage.get("published"), "signalId"), aLineage.toString());
    assertEquals(List.of(bId), texts(s1Lineage.get("triggered"), "instanceId"), s1Lineage.toString());
    assertEquals(List.of(), texts(s1Lineage.get("unblocked"), "instanceId"));
    assertEquals(List.of(s2), texts(bLineage.get("published"), "signalId"), bLineage.toString());
    assertEquals(List.of(cId), texts(s2Lineage.get("unblocked"), "instanceId"), s2Lineage.toString());
    assertEquals(List.of("publish"), texts(s2Lineage.get("unblocked"), "stepId"));
    assertEquals(List.of(), texts(s2Lineage.get("triggered"), "instanceId"), "nobody subscribes to chain.s2");

    // The other batch's signal came over HTTP: no publishing step, nothing opened.
    JsonNode other = get("/api/v1/signals/other-batch");
    assertEquals(true, other.get("publishedBy").isNull(), other.toString());
    assertEquals(0, other.get("unblocked").size(), other.toString());
  }
}
