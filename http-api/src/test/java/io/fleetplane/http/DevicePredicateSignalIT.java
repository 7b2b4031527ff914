package io.fleetplane.http;

import static io.fleetplane.http.ReadSideFixture.failFast;
import static io.fleetplane.http.ReadSideFixture.queryLong;
import static io.fleetplane.http.ReadSideFixture.workflowInstances;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.fleetplane.testkit.Eventually;
import io.fleetplane.testkit.infra.EmbeddedKafka;
import io.fleetplane.testkit.infra.EmbeddedMqttBroker;
import io.fleetplane.testkit.infra.PostgresEndpoint;
import io.fleetplane.testkit.infra.TestPostgres;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A device-state predicate end to end on real parts: devices publish their test state over MQTT
 * (embedded broker -> bridge -> in-process Kafka -> registry -> journal -> read-side projection),
 * the evaluator counts the read side, and a workflow subscribed to the predicate's signal starts
 * exactly once per crossing: not at 90%, once at 95%, not again at 100% nor after a node restart,
 * and again only after the fleet dropped below and crossed back (re-armed). Canary sessions, all
 * in another state, would keep the fleet below 95% if they were counted.
 */
class DevicePredicateSignalIT {

  private static final int DEVICES = 20;
  private static final String RAE = "RAE-PRED";

  private static EmbeddedKafka kafka;
  private static PostgresEndpoint db;
  private static FleetplaneNode node;
  private static String mqttUri;
  private static Map<String, Object> config;
  private static final List<String> SESSIONS = new ArrayList<>();

  @BeforeAll
  static void start() throws Exception {
    kafka = NodeFixture.startKafka();
    db = TestPostgres.newSchema();
    mqttUri = EmbeddedMqttBroker.shared().serverUri();
    config = NodeFixture.nodeConfig(db, kafka.bootstrapServers(), mqttUri, "predicates");
    config.put("fleetplane.node.signal-sources.device-predicates.interval", "200ms");
    config.put("fleetplane.workflows.signals.kafka.enabled", false);
    config.put("jdbc-read-journal.refresh-interval", "100ms");
    config.put("akka.coordinated-shutdown.run-by-jvm-shutdown-hook", "off");
    node = NodeFixture.startNode(config);
    for (int i = 0; i < DEVICES; i++) {
      SESSIONS.add(UUID.randomUUID().toString());
    }
  }

  @AfterAll
  static void stop() throws Exception {
    NodeFixture.stopAll(node, kafka, db);
  }

  @Test
  void aFleetCrossingNinetyFivePercentAvailableStartsTheSubscribedWorkflowOncePerCrossing() throws Exception {
    assertEquals(201, call("POST", "/api/v1/workflows", "application/yaml", """
        id: on-fleet-ready
        owner: it
        params: {note: none}
        steps:
          - {id: a, type: noop, params: {n: "${params.note}"}}
        """).statusCode());
    HttpResponse<String> sub = call("POST", "/api/v1/workflows/on-fleet-ready/subscriptions", "application/json",
        "{\"signal\": \"fleet.available\"}");
    assertEquals(201, sub.statusCode(), sub.body());

    // Every device, and three canary sessions, report "in-test".
    for (String s : SESSIONS) {
      state(RAE, s, "in-test");
    }
    for (int i = 0; i < 3; i++) {
      state("canary-predicate-it", UUID.randomUUID().toString(), "in-test");
    }
    Eventually.await(Duration.ofSeconds(60),
        failFast(() -> queryLong(db, "SELECT count(*) FROM device_session") == DEVICES + 3),
        () -> "all sessions projected");

    HttpResponse<String> created = call("POST", "/api/v1/signals/predicates", "application/json", """
        {"name": "fleet-available", "signal": "fleet.available", "match": {"testState": "available"},
         "quantifier": "fraction", "threshold": 0.95}""");
    assertEquals(201, created.statusCode(), created.body());
    String id = NodeFixture.json(created).get("predicateId").asText();
    String path = "/api/v1/signals/predicates/" + id;
    assertEquals(path, created.headers().firstValue("location").orElseThrow());
    HttpResponse<String> again = call("POST", "/api/v1/signals/predicates", "application/json", """
        {"name": "fleet-available", "signal": "other", "match": {"testState": "x"}, "quantifier": "all"}""");
    assertEquals(409, again.statusCode(), again.body());
    assertEquals("predicate.name-taken", NodeFixture.json(again).get("code").asText());

    // 18 of 20 (90%): evaluated, not satisfied, nothing emitted.
    for (int i = 0; i < 18; i++) {
      state(RAE, SESSIONS.get(i), "available");
    }
    JsonNode at90 = awaitPredicate(path, p -> p.get("lastMatching").asLong() == 18);
    assertEquals(DEVICES, at90.get("lastTotal").asLong(), "canary sessions are not in the population: " + at90);
    assertFalse(at90.get("satisfied").asBoolean());
    assertEquals(0, at90.get("generation").asInt());
    assertEquals(0, queryLong(db, "SELECT count(*) FROM workflow_signal"), "no signal below the threshold");

    // The 19th (95%): one crossing, one signal with a deterministic id, one instance.
    state(RAE, SESSIONS.get(18), "available");
    JsonNode crossed = awaitPredicate(path, p -> p.get("generation").asInt() == 1 && !p.get("signalPending").asBoolean());
    assertTrue(crossed.get("satisfied").asBoolean());
    String signalId = "predicate:" + id + ":1";
    assertEquals(signalId, crossed.get("lastSignalId").asText());
    JsonNode signal = NodeFixture.json(call("GET", "/api/v1/signals/" + signalId, null, null));
    assertEquals("fleet.available", signal.get("signal").get("name").asText());
    assertEquals("device-predicate", signal.get("signal").get("source").asText());
    assertEquals(19, signal.get("signal").get("params").get("matching").asInt());
    assertEquals(20, signal.get("signal").get("params").get("total").asInt());
    assertEquals(1, signal.get("triggered").size(), signal.toString());
    Eventually.await(Duration.ofSeconds(30), failFast(() -> workflowInstances(db) == 1), () -> "one instance started");

    // 100%: still satisfied, no second signal, through several more evaluations.
    state(RAE, SESSIONS.get(19), "available");
    awaitPredicate(path, p -> p.get("lastMatching").asLong() == 20);
    awaitEvaluationsAfter(path, Instant.now());
    assertEquals(1, queryLong(db, "SELECT count(*) FROM workflow_signal"));
    assertEquals(1, workflowInstances(db));

    // A node restart re-evaluates a satisfied predicate: still one signal, one instance.
    node.stop().toCompletableFuture().get();
    node = NodeFixture.startNode(config);
    awaitEvaluationsAfter(path, Instant.now());
    JsonNode afterRestart = predicate(path).get("state");
    assertEquals(1, afterRestart.get("generation").asInt(), afterRestart.toString());
    assertEquals(1, queryLong(db, "SELECT count(*) FROM workflow_signal"));
    assertEquals(1, workflowInstances(db));

    // Two devices leave "available" (90%): re-armed. Back to 95%: crossing 2, a second instance.
    state(RAE, SESSIONS.get(0), "in-test");
    state(RAE, SESSIONS.get(1), "in-test");
    JsonNode rearmed = awaitPredicate(path, p -> p.get("lastMatching").asLong() == 18);
    assertFalse(rearmed.get("satisfied").asBoolean(), rearmed.toString());
    assertEquals(1, rearmed.get("generation").asInt());
    state(RAE, SESSIONS.get(0), "available");
    awaitPredicate(path, p -> p.get("generation").asInt() == 2 && !p.get("signalPending").asBoolean());
    Eventually.await(Duration.ofSeconds(30), failFast(() -> workflowInstances(db) == 2),
        () -> "a second instance for the second crossing");
    assertEquals(2, queryLong(db, "SELECT count(*) FROM workflow_signal"));
    assertEquals(1, queryLong(db, "SELECT count(*) FROM workflow_signal WHERE signal_id = 'predicate:" + id + ":2'"));

    // Listing and deleting.
    JsonNode list = NodeFixture.json(call("GET", "/api/v1/signals/predicates", null, null));
    assertEquals(1, list.get("predicates").size());
    assertEquals(204, call("DELETE", path, null, null).statusCode());
    assertEquals(404, call("GET", path, null, null).statusCode());
  }

  // --- helpers ---------------------------------------------------------------------------------

  private static void state(String rae, String session, String state) throws Exception {
    NodeFixture.publish(mqttUri, "fleet/rae/" + rae + "/device/" + session + "/update",
        "{\"version\":1,\"ts\":" + System.currentTimeMillis() + ",\"attributes\":{},\"state\":\"" + state + "\"}");
  }

  private static JsonNode predicate(String path) throws Exception {
    HttpResponse<String> r = call("GET", path, null, null);
    assertEquals(200, r.statusCode(), r.body());
    return NodeFixture.json(r);
  }

  /** The predicate's state once {@code condition} holds for it. */
  private static JsonNode awaitPredicate(String path, java.util.function.Predicate<JsonNode> condition) {
    JsonNode[] last = new JsonNode[1];
    Eventually.await(Duration.ofSeconds(60), failFast(() -> {
      last[0] = predicate(path).get("state");
      return !last[0].get("lastMatching").isNull() && condition.test(last[0]);
    }), () -> "predicate state; last " + last[0]);
    return last[0];
  }

  /** Two evaluations finished after {@code since} (the second started after it). */
  private static void awaitEvaluationsAfter(String path, Instant since) {
    Instant[] first = new Instant[1];
    Eventually.await(Duration.ofSeconds(30), failFast(() -> {
      JsonNode at = predicate(path).get("state").get("lastEvaluatedAt");
      if (at.isNull() || !Instant.parse(at.asText()).isAfter(since)) {
        return false;
      }
      if (first[0] == null) {
        first[0] = Instant.parse(at.asText());
      }
      return Instant.parse(at.asText()).isAfter(first[0]);
    }), () -> "two evaluations after " + since);
  }

  private static HttpResponse<String> call(String method, String path, String contentType, String body)
      throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + node.httpPort() + path))
        .timeout(Duration.ofSeconds(20)).header("Authorization", "Bearer " + TestTokens.admin());
    if (contentType != null) {
      b.header("Content-Type", contentType);
    }
    b.method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
    return NodeFixture.HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }
}
