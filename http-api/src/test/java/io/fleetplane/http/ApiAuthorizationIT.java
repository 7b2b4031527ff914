package io.fleetplane.http;

import static io.fleetplane.http.NodeFixture.get;
import static io.fleetplane.http.NodeFixture.json;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.fleetplane.config.ids.DeviceTopic.Channel;
import io.fleetplane.config.metrics.Metrics;
import io.fleetplane.http.auth.Caller;
import io.fleetplane.http.auth.Scope;
import io.fleetplane.http.auth.TokenMinter;
import io.fleetplane.testkit.infra.EmbeddedKafka;
import io.fleetplane.testkit.infra.PostgresEndpoint;
import io.fleetplane.testkit.infra.TestPostgres;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The authorization matrix over real HTTP on a real node, as one table: {@link #ROWS} has a row
 * per /api/v1 operation (method + path template, exactly as in the OpenAPI document, which
 * {@link #everyDocumentedOperationHasARowAndEveryRowIsDocumented} enforces both ways, so a route
 * added without a row fails the build). For every row: no token -> 401 with a Bearer challenge,
 * unusable tokens -> 401, a token without the row's scope -> 403, the right token (exactly its
 * scope, and admin) -> the row's 2xx, and the row's RAE rule: another RAE's device -> 404 exactly
 * like an unknown one, lists and streams filtered to the caller's RAEs, and routes that are not
 * RAE-scoped (jobs, workflows, canary) served whatever the token's RAEs.
 */
class ApiAuthorizationIT {

  /** What another RAE's caller sees on a route. */
  enum RaeRule {
    /** A single device (or something of one): 404, indistinguishable from an unknown id. */
    DEVICE_404,
    /** A list or statistics: only the caller's RAEs ({@link #listsAndStatsAreFilteredToTheCallersRaes}). */
    LIST_FILTERED,
    /** The SSE stream: only the caller's RAEs' events ({@link #theEventStreamShowsOnlyTheCallersRaes}). */
    STREAM_FILTERED,
    /** Not RAE-scoped (jobs, workflows, canary): the scope alone decides. */
    NOT_RAE_SCOPED,
    /** Fleet-wide aggregates (device-state predicates): the scope and a token for every RAE. */
    ALL_RAES
  }

  /** A concrete request: path (with query), and a body with its content type for writes. */
  record Call(String path, String contentType, byte[] body) {
    static Call of(String path) {
      return new Call(path, null, null);
    }

    static Call json(String path, String json) {
      return new Call(path, "application/json", json.getBytes(StandardCharsets.UTF_8));
    }
  }

  /** Builds a fresh concrete request for a row (writes that change state need their own target each time). */
  interface Fixture {
    Call make() throws Exception;
  }

  /**
   * One operation of the API.
   *
   * @param method HTTP method
   * @param template the OpenAPI path template
   * @param scope the scope it needs
   * @param rae what another RAE's caller sees
   * @param ok the status the right token gets
   * @param fixture a concrete request on RAE-A's device where the route takes one
   */
  record Row(String method, String template, Scope scope, RaeRule rae, int ok, Fixture fixture) {
    @Override
    public String toString() {
      return method + " " + template;
    }
  }

  private static PostgresEndpoint db;
  private static EmbeddedKafka kafka;
  private static FleetplaneNode node;
  private static final List<String> RAE_A = new ArrayList<>();
  private static final List<String> RAE_B = new ArrayList<>();
  private static List<Row> ROWS;

  // Fixtures the rows point at.
  private static String deviceA;
  private static String commandA;
  private static String documentId;
  private static byte[] samplePdf;
  private static byte[] longPdf;
  private static byte[] fingerprintedCopy;
  private static String distributionId;
  private static String workflowVersion;
  private static String instanceId;
  private static String loopInstanceId;
  private static String scheduleId;
  private static String subscriptionId;
  private static String predicateId;
  private static final String SIGNAL_ID = "matrix-ping-1";

  @BeforeAll
  static void start() throws Exception {
    db = TestPostgres.newSchema();
    kafka = NodeFixture.startKafka();
    Map<String, Object> config = ReadSideFixture.nodeConfig(db, true);
    // Commands are produced to Kafka; nothing consumes them here (async requests need no reply).
    config.put("fleetplane.kafka.bootstrap-servers", kafka.bootstrapServers());
    config.put("fleetplane.jobs.distribution.store-dir", Files.createTempDirectory("fp-authz-").toString());
    config.put("fleetplane.jobs.distribution.parallelism", 1);
    node = ReadSideFixture.start(config);
    long now = System.currentTimeMillis();
    for (int i = 0; i < 5; i++) {
      String id = UUID.randomUUID().toString();
      String rae = i < 3 ? "RAE-A" : "RAE-B";
      (i < 3 ? RAE_A : RAE_B).add(id);
      ReadSideFixture.apply(node.system(), id, rae, Channel.UPDATE, 1000,
          Map.of("esn", ReadSideFixture.text("ESN-" + i)), "in-test", null, now, 0);
    }
    ReadSideFixture.await("5 sessions projected", Duration.ofSeconds(30), ReadSideFixture.quietly(() ->
        ReadSideFixture.rowCountAndAppliedSum(db)[0] == 5));
    deviceA = RAE_A.get(0);
    commandA = json(expect(202, send("POST", Call.json("/api/v1/devices/" + deviceA + "/commands?async=true",
        "{\"name\":\"reboot\"}"), TestTokens.admin()))).get("commandId").asText();

    samplePdf = DistributionHttpIT.pdf("matrix", 1, false);
    longPdf = DistributionHttpIT.pdf("matrix-long", 30, false);
    documentId = json(expect(201, send("POST", new Call("/api/v1/documents", "application/pdf", samplePdf),
        TestTokens.admin()))).get("documentId").asText();
    distributionId = newDistribution(documentId, 1);
    NodeFixture.awaitResponse(node.httpPort(), "/api/v1/distributions/" + distributionId,
        // The status, not the "completed" count every summary carries from the start.
        r -> r.statusCode() == 200 && r.body().contains("\"status\":\"completed\""), Duration.ofSeconds(60));
    String copyId = json(get(node.httpPort(), "/api/v1/distributions/" + distributionId + "/items"))
        .get("items").get(0).get("copyDocumentId").asText();
    fingerprintedCopy = io.fleetplane.jobs.distribution.Distributions.get(node.system()).store().get(copyId)
        .orElseThrow();

    workflowVersion = json(expect(201, send("POST", new Call("/api/v1/workflows", "application/yaml", """
        id: matrix
        owner: it
        steps:
          - {id: nap, type: wait, params: {duration: 10m}}
        """.getBytes(StandardCharsets.UTF_8)), TestTokens.admin()))).get("version").asText();
    // Fails at once (nothing listens on port 1), so restart has a failed instance to restart.
    expect(201, send("POST", new Call("/api/v1/workflows", "application/yaml", """
        id: matrix-fail
        owner: it
        steps:
          - {id: call, type: http, params: {url: "http://127.0.0.1:1/"}, retry: {maxAttempts: 1}}
        """.getBytes(StandardCharsets.UTF_8)), TestTokens.admin()));
    expect(201, send("POST", new Call("/api/v1/workflows", "application/yaml", """
        id: matrix-loop
        owner: it
        steps:
          - id: loop
            type: foreach
            foreach: {items: "range(3)", as: i, concurrency: 1, steps: [{id: nap, type: wait, params: {duration: 10m}}]}
        """.getBytes(StandardCharsets.UTF_8)), TestTokens.admin()));
    instanceId = newInstance("matrix");
    loopInstanceId = newInstance("matrix-loop");
    scheduleId = newSchedule();
    subscriptionId = newSubscription();
    predicateId = newPredicate();
    expect(201, send("POST", Call.json("/api/v1/signals", "{\"signalId\":\"" + SIGNAL_ID
        + "\",\"name\":\"matrix-ping\"}"), TestTokens.admin()));

    String device = "/api/v1/devices/" + deviceA;
    String dist = "/api/v1/distributions/{d}";
    String wf = "/api/v1/workflows/matrix";
    ROWS = List.of(
        new Row("GET", "/api/v1/devices", Scope.DEVICES_READ, RaeRule.LIST_FILTERED, 200,
            () -> Call.of("/api/v1/devices")),
        new Row("GET", "/api/v1/devices/stats", Scope.DEVICES_READ, RaeRule.LIST_FILTERED, 200,
            () -> Call.of("/api/v1/devices/stats")),
        new Row("GET", "/api/v1/devices/events", Scope.DEVICES_READ, RaeRule.STREAM_FILTERED, 200,
            () -> Call.of("/api/v1/devices/events")),
        new Row("GET", "/api/v1/devices/{deviceSessionId}", Scope.DEVICES_READ, RaeRule.DEVICE_404, 200,
            () -> Call.of(device)),
        new Row("GET", "/api/v1/devices/{deviceSessionId}/history", Scope.DEVICES_READ, RaeRule.DEVICE_404, 200,
            () -> Call.of(device + "/history")),
        new Row("POST", "/api/v1/devices/{deviceSessionId}/commands", Scope.DEVICES_WRITE, RaeRule.DEVICE_404, 202,
            () -> Call.json(device + "/commands?async=true", "{\"name\":\"reboot\"}")),
        new Row("GET", "/api/v1/devices/{deviceSessionId}/commands/{commandId}", Scope.DEVICES_READ,
            RaeRule.DEVICE_404, 200, () -> Call.of(device + "/commands/" + commandA)),

        new Row("POST", "/api/v1/documents", Scope.JOBS_WRITE, RaeRule.NOT_RAE_SCOPED, 201,
            () -> new Call("/api/v1/documents", "application/pdf", samplePdf)),
        new Row("POST", "/api/v1/documents/identify", Scope.JOBS_WRITE, RaeRule.NOT_RAE_SCOPED, 200,
            () -> new Call("/api/v1/documents/identify", "application/pdf", fingerprintedCopy)),
        new Row("GET", "/api/v1/documents/{documentId}/thumbnail", Scope.JOBS_READ, RaeRule.NOT_RAE_SCOPED, 200,
            () -> Call.of("/api/v1/documents/" + documentId + "/thumbnail")),
        new Row("POST", "/api/v1/distributions", Scope.JOBS_WRITE, RaeRule.NOT_RAE_SCOPED, 202,
            () -> Call.json("/api/v1/distributions", distributionBody(documentId, 1))),
        new Row("GET", "/api/v1/distributions/{distributionId}", Scope.JOBS_READ, RaeRule.NOT_RAE_SCOPED, 200,
            () -> Call.of(dist.replace("{d}", distributionId))),
        new Row("GET", "/api/v1/distributions/{distributionId}/items", Scope.JOBS_READ, RaeRule.NOT_RAE_SCOPED, 200,
            () -> Call.of(dist.replace("{d}", distributionId) + "/items")),
        new Row("GET", "/api/v1/distributions/{distributionId}/timeline", Scope.JOBS_READ, RaeRule.NOT_RAE_SCOPED,
            200, () -> Call.of(dist.replace("{d}", distributionId) + "/timeline")),
        // A long job (30 pages x 12 recipients on one worker thread) is still running when cancelled.
        new Row("POST", "/api/v1/distributions/{distributionId}/actions/cancel", Scope.JOBS_WRITE,
            RaeRule.NOT_RAE_SCOPED, 200, () -> Call.json(dist.replace("{d}", newLongDistribution()) + "/actions/cancel", "")),
        new Row("POST", "/api/v1/distributions/{distributionId}/actions/revoke", Scope.JOBS_WRITE,
            RaeRule.NOT_RAE_SCOPED, 200, () -> Call.json(dist.replace("{d}", distributionId) + "/actions/revoke", "")),
        new Row("POST", "/api/v1/distributions/{distributionId}/recipients/{recipientId}/actions/revoke",
            Scope.JOBS_WRITE, RaeRule.NOT_RAE_SCOPED, 200,
            () -> Call.json(dist.replace("{d}", distributionId) + "/recipients/r0/actions/revoke", "")),

        new Row("GET", "/api/v1/workflows", Scope.WORKFLOWS_READ, RaeRule.NOT_RAE_SCOPED, 200,
            () -> Call.of("/api/v1/workflows")),
        new Row("POST", "/api/v1/workflows", Scope.WORKFLOWS_WRITE, RaeRule.NOT_RAE_SCOPED, 201,
            () -> new Call("/api/v1/workflows", "application/yaml",
                "id: matrix-new\nowner: it\nsteps:\n  - {id: a, type: noop}\n".getBytes(StandardCharsets.UTF_8))),
        new Row("GET", "/api/v1/workflows/{workflowId}", Scope.WORKFLOWS_READ, RaeRule.NOT_RAE_SCOPED, 200,
            () -> Call.of(wf)),
        new Row("GET", "/api/v1/workflows/{workflowId}/versions/{version}", Scope.WORKFLOWS_READ,
            RaeRule.NOT_RAE_SCOPED, 200, () -> Call.of(wf + "/versions/" + workflowVersion)),
        new Row("POST", "/api/v1/workflows/{workflowId}/instances", Scope.WORKFLOWS_WRITE, RaeRule.NOT_RAE_SCOPED,
            201, () -> Call.json(wf + "/instances", "{}")),
        new Row("GET", "/api/v1/workflows/{workflowId}/instances/{instanceId}", Scope.WORKFLOWS_READ,
            RaeRule.NOT_RAE_SCOPED, 200, () -> Call.of(wf + "/instances/" + instanceId)),
        new Row("GET", "/api/v1/workflows/{workflowId}/instances/{instanceId}/steps", Scope.WORKFLOWS_READ,
            RaeRule.NOT_RAE_SCOPED, 200, () -> Call.of(wf + "/instances/" + instanceId + "/steps")),
        new Row("GET", "/api/v1/workflows/{workflowId}/instances/{instanceId}/steps/{stepId}/iterations",
            Scope.WORKFLOWS_READ, RaeRule.NOT_RAE_SCOPED, 200,
            () -> Call.of("/api/v1/workflows/matrix-loop/instances/" + loopInstanceId + "/steps/loop/iterations")),
        new Row("GET", "/api/v1/workflows/{workflowId}/instances/{instanceId}/timeline", Scope.WORKFLOWS_READ,
            RaeRule.NOT_RAE_SCOPED, 200, () -> Call.of(wf + "/instances/" + instanceId + "/timeline")),
        new Row("POST", "/api/v1/workflows/{workflowId}/instances/{instanceId}/actions/cancel", Scope.WORKFLOWS_WRITE,
            RaeRule.NOT_RAE_SCOPED, 200, () -> Call.json(wf + "/instances/" + newInstance("matrix") + "/actions/cancel", "")),
        new Row("POST", "/api/v1/workflows/{workflowId}/instances/{instanceId}/actions/pause", Scope.WORKFLOWS_WRITE,
            RaeRule.NOT_RAE_SCOPED, 200, () -> Call.json(wf + "/instances/" + newInstance("matrix") + "/actions/pause", "")),
        new Row("POST", "/api/v1/workflows/{workflowId}/instances/{instanceId}/actions/resume", Scope.WORKFLOWS_WRITE,
            RaeRule.NOT_RAE_SCOPED, 200, () -> Call.json(wf + "/instances/" + pausedInstance() + "/actions/resume", "")),
        new Row("POST", "/api/v1/workflows/{workflowId}/instances/{instanceId}/actions/restart",
            Scope.WORKFLOWS_WRITE, RaeRule.NOT_RAE_SCOPED, 200,
            () -> Call.json("/api/v1/workflows/matrix-fail/instances/" + failedInstance() + "/actions/restart", "")),
        new Row("GET", "/api/v1/workflows/{workflowId}/instances/{instanceId}/lineage", Scope.WORKFLOWS_READ,
            RaeRule.NOT_RAE_SCOPED, 200, () -> Call.of(wf + "/instances/" + instanceId + "/lineage")),

        new Row("POST", "/api/v1/workflows/{workflowId}/schedules", Scope.WORKFLOWS_WRITE, RaeRule.NOT_RAE_SCOPED,
            201, () -> Call.json(wf + "/schedules", SCHEDULE_BODY)),
        new Row("GET", "/api/v1/workflows/{workflowId}/schedules", Scope.WORKFLOWS_READ, RaeRule.NOT_RAE_SCOPED,
            200, () -> Call.of(wf + "/schedules")),
        new Row("GET", "/api/v1/workflows/{workflowId}/schedules/{scheduleId}", Scope.WORKFLOWS_READ,
            RaeRule.NOT_RAE_SCOPED, 200, () -> Call.of(wf + "/schedules/" + scheduleId)),
        new Row("DELETE", "/api/v1/workflows/{workflowId}/schedules/{scheduleId}", Scope.WORKFLOWS_WRITE,
            RaeRule.NOT_RAE_SCOPED, 204, () -> Call.of(wf + "/schedules/" + newSchedule())),
        new Row("POST", "/api/v1/workflows/{workflowId}/schedules/{scheduleId}/actions/disable",
            Scope.WORKFLOWS_WRITE, RaeRule.NOT_RAE_SCOPED, 200,
            () -> Call.json(wf + "/schedules/" + scheduleId + "/actions/disable", "")),
        new Row("POST", "/api/v1/workflows/{workflowId}/schedules/{scheduleId}/actions/enable",
            Scope.WORKFLOWS_WRITE, RaeRule.NOT_RAE_SCOPED, 200,
            () -> Call.json(wf + "/schedules/" + scheduleId + "/actions/enable", "")),
        new Row("GET", "/api/v1/workflows/{workflowId}/schedules/{scheduleId}/fires", Scope.WORKFLOWS_READ,
            RaeRule.NOT_RAE_SCOPED, 200, () -> Call.of(wf + "/schedules/" + scheduleId + "/fires")),

        // Signals start workflows: the workflow scopes govern them.
        new Row("POST", "/api/v1/signals", Scope.WORKFLOWS_WRITE, RaeRule.NOT_RAE_SCOPED, 201,
            () -> Call.json("/api/v1/signals", "{\"name\":\"matrix-ping\"}")),
        new Row("GET", "/api/v1/signals/{signalId}", Scope.WORKFLOWS_READ, RaeRule.NOT_RAE_SCOPED, 200,
            () -> Call.of("/api/v1/signals/" + SIGNAL_ID)),
        new Row("POST", "/api/v1/signals/predicates", Scope.WORKFLOWS_WRITE, RaeRule.ALL_RAES, 201,
            () -> Call.json("/api/v1/signals/predicates", predicateBody())),
        new Row("GET", "/api/v1/signals/predicates", Scope.WORKFLOWS_READ, RaeRule.ALL_RAES, 200,
            () -> Call.of("/api/v1/signals/predicates")),
        new Row("GET", "/api/v1/signals/predicates/{predicateId}", Scope.WORKFLOWS_READ, RaeRule.ALL_RAES, 200,
            () -> Call.of("/api/v1/signals/predicates/" + predicateId)),
        new Row("DELETE", "/api/v1/signals/predicates/{predicateId}", Scope.WORKFLOWS_WRITE, RaeRule.ALL_RAES,
            204, () -> Call.of("/api/v1/signals/predicates/" + newPredicate())),
        new Row("POST", "/api/v1/workflows/{workflowId}/subscriptions", Scope.WORKFLOWS_WRITE,
            RaeRule.NOT_RAE_SCOPED, 201, () -> Call.json(wf + "/subscriptions", SUBSCRIPTION_BODY)),
        new Row("GET", "/api/v1/workflows/{workflowId}/subscriptions", Scope.WORKFLOWS_READ,
            RaeRule.NOT_RAE_SCOPED, 200, () -> Call.of(wf + "/subscriptions")),
        new Row("GET", "/api/v1/workflows/{workflowId}/subscriptions/{subscriptionId}", Scope.WORKFLOWS_READ,
            RaeRule.NOT_RAE_SCOPED, 200, () -> Call.of(wf + "/subscriptions/" + subscriptionId)),
        new Row("DELETE", "/api/v1/workflows/{workflowId}/subscriptions/{subscriptionId}", Scope.WORKFLOWS_WRITE,
            RaeRule.NOT_RAE_SCOPED, 204, () -> Call.of(wf + "/subscriptions/" + newSubscription())),

        new Row("GET", "/api/v1/canary/runs", Scope.DEVICES_READ, RaeRule.NOT_RAE_SCOPED, 200,
            () -> Call.of("/api/v1/canary/runs")),
        // The heartbeat probe is off on this node: its documented 404 canary answer is what a caller
        // who passed authorization gets (CanaryIT covers the 200 with the probe on).
        new Row("GET", "/api/v1/canary/heartbeat", Scope.DEVICES_READ, RaeRule.NOT_RAE_SCOPED, 404,
            () -> Call.of("/api/v1/canary/heartbeat")));
  }

  @AfterAll
  static void stop() throws Exception {
    if (node != null) {
      ReadSideFixture.stop(node);
    }
    if (kafka != null) {
      kafka.close();
    }
    if (db != null) {
      TestPostgres.dropSchema(db);
    }
  }

  @Test
  void everyDocumentedOperationHasARowAndEveryRowIsDocumented() throws Exception {
    JsonNode doc = json(get(node.httpPort(), "/api/v1/openapi.json", null));
    Set<String> documented = new TreeSet<>();
    for (Iterator<Map.Entry<String, JsonNode>> paths = doc.get("paths").fields(); paths.hasNext(); ) {
      Map.Entry<String, JsonNode> path = paths.next();
      path.getValue().fields().forEachRemaining(op -> {
        // Open on purpose (no scope): the contract itself; /d/{token} is outside /api/v1.
        if (op.getValue().has("x-scope")) {
          documented.add(op.getKey().toUpperCase() + " " + path.getKey());
        }
      });
    }
    Set<String> rows = new TreeSet<>();
    for (Row row : ROWS) {
      assertTrue(rows.add(row.toString()), "one row per operation: " + row);
      JsonNode op = doc.get("paths").path(row.template()).path(row.method().toLowerCase());
      assertEquals(row.scope().claimValue(), op.path("x-scope").asText(), row + ": the row's scope is the documented one");
    }
    assertEquals(documented, rows, "every documented /api/v1 operation has a matrix row, and only those");
    assertTrue(rows.size() >= 30, "the whole API: " + rows.size());
  }

  @Test
  void noTokenIs401WithABearerChallengeOnEveryRouteAndIsCounted() throws Exception {
    long before = Metrics.count(Problem.METRIC, Map.of("code", "auth.token-missing", "status", "401"));
    for (Row row : ROWS) {
      HttpResponse<String> response = send(row.method(), row.fixture().make(), null);
      assertProblem(response, 401, "auth.token-missing", row);
      String challenge = response.headers().firstValue("WWW-Authenticate").orElse("");
      assertTrue(challenge.startsWith("Bearer realm=\"fleetplane\""), row + ": " + challenge);
      assertTrue(!challenge.contains("error="), "no error code without credentials (RFC 6750): " + challenge);
    }
    assertEquals(before + ROWS.size(),
        Metrics.count(Problem.METRIC, Map.of("code", "auth.token-missing", "status", "401")));
  }

  @Test
  void unusableTokensAre401InvalidToken() throws Exception {
    TokenMinter otherKey = TokenMinter.hmac("another-installation-secret-0123456789".getBytes(StandardCharsets.UTF_8));
    String foreign = otherKey.mint(TokenMinter.Grant.of("x", Set.of(Scope.ADMIN), List.of("*"), Duration.ofHours(1)));
    String unsigned = unsignedAdminToken();
    String expired = TestTokens.minter().mint(TokenMinter.Grant.of("x", Set.of(Scope.ADMIN), List.of("*"),
        Duration.ofMinutes(-5)));
    for (Row row : ROWS) {
      Call call = row.fixture().make();
      for (String token : List.of("not-a-jwt", foreign, unsigned, TestTokens.admin() + "x")) {
        HttpResponse<String> response = send(row.method(), call, token);
        assertProblem(response, 401, "auth.token-invalid", row);
        assertTrue(response.headers().firstValue("WWW-Authenticate").orElse("").matches(".*error=\"?invalid_token\"?.*"),
            row + " " + response.headers().map());
      }
      assertProblem(send(row.method(), call, expired), 401, "auth.token-expired", row);
      assertProblem(send(row.method(), call, "Basic dXNlcjpwYXNz", true), 401, "auth.token-invalid", row);
    }
  }

  @Test
  void aTokenWithoutTheRoutesScopeIs403() throws Exception {
    for (Row row : ROWS) {
      Set<Scope> others = EnumSet.complementOf(EnumSet.of(row.scope(), Scope.ADMIN));
      HttpResponse<String> response = send(row.method(), row.fixture().make(), TestTokens.token(others, List.of("*")));
      assertProblem(response, 403, "auth.scope-missing", row);
      String challenge = response.headers().firstValue("WWW-Authenticate").orElse("");
      assertTrue(challenge.matches(".*error=\"?insufficient_scope\"?.*") && challenge.contains(row.scope().claimValue()),
          row + ": " + challenge);
    }
  }

  @Test
  void theRightTokenGetsTheRoutesAnswerAndAdminImpliesEveryScope() throws Exception {
    List<String> failures = new ArrayList<>();
    for (Row row : ROWS) {
      String exact = TestTokens.token(Set.of(row.scope()), List.of(row.rae() == RaeRule.ALL_RAES ? "*" : "RAE-A"));
      for (String token : List.of(exact, TestTokens.admin())) {
        HttpResponse<String> response = send(row.method(), row.fixture().make(), token);
        if (response.statusCode() != row.ok()) {
          failures.add(row + (token.equals(exact) ? " (exact scope)" : " (admin)") + ": expected " + row.ok() + ", got "
              + response.statusCode() + " " + response.body());
        }
      }
    }
    assertTrue(failures.isEmpty(), String.join("\n", failures));
  }

  @Test
  void anotherRaesDeviceIsAnsweredLikeAnUnknownOneOnEveryDeviceRoute() throws Exception {
    String unknown = UUID.randomUUID().toString();
    for (Row row : ROWS) {
      if (row.rae() != RaeRule.DEVICE_404) {
        continue;
      }
      String onlyB = TestTokens.token(Set.of(row.scope()), List.of("RAE-B"));
      Call call = row.fixture().make();
      HttpResponse<String> hidden = send(row.method(), call, onlyB);
      HttpResponse<String> absent = send(row.method(), new Call(call.path().replace(deviceA, unknown),
          call.contentType(), call.body()), onlyB);
      // device.not-found, or command.not-found for a command of another RAE's device.
      assertProblem(hidden, 404, json(absent).path("code").asText(), row);
      assertTrue(json(hidden).get("code").asText().endsWith(".not-found"), row + ": " + hidden.body());
      assertEquals(absent.body().replace(unknown, "ID"), hidden.body().replace(deviceA, "ID"), row + ": indistinguishable");
      // The same route for RAE-B's own device passes the RAE check.
      Call own = row.fixture().make();
      String ownDevice = RAE_B.get(0);
      if (!own.path().contains("/commands/")) { // a command id belongs to one device: covered by the 404 above
        HttpResponse<String> mine = send(row.method(), new Call(own.path().replace(deviceA, ownDevice), own.contentType(),
            own.body()), onlyB);
        assertEquals(row.ok(), mine.statusCode(), row + " on RAE-B's own device: " + mine.body());
      }
    }
  }

  @Test
  void routesThatAreNotRaeScopedServeAnyRaesCallerWithTheScope() throws Exception {
    for (Row row : ROWS) {
      if (row.rae() != RaeRule.NOT_RAE_SCOPED) {
        continue;
      }
      String noRaes = TestTokens.token(Set.of(row.scope()), List.of());
      HttpResponse<String> response = send(row.method(), row.fixture().make(), noRaes);
      assertEquals(row.ok(), response.statusCode(), row + " with a token of no RAEs: " + response.body());
    }
  }

  @Test
  void fleetWideRoutesRefuseTokensLimitedToSomeRaes() throws Exception {
    for (Row row : ROWS) {
      if (row.rae() != RaeRule.ALL_RAES) {
        continue;
      }
      for (List<String> raes : List.of(List.of("RAE-A"), List.of("RAE-A", "RAE-B"), List.<String>of())) {
        HttpResponse<String> response = send(row.method(), row.fixture().make(), TestTokens.token(Set.of(row.scope()), raes));
        assertProblem(response, 403, "predicate.fleet-token-required", row + " with raes " + raes);
      }
    }
  }

  @Test
  void listsAndStatsAreFilteredToTheCallersRaes() throws Exception {
    String onlyB = TestTokens.token(Set.of(Scope.DEVICES_READ), List.of("RAE-B"));
    assertEquals(new TreeSet<>(RAE_B), ids(json(get(node.httpPort(), "/api/v1/devices", onlyB))));
    assertEquals(Set.of(), ids(json(get(node.httpPort(), "/api/v1/devices?raeSerial=RAE-A", onlyB))),
        "asking for another RAE by name finds nothing");
    assertEquals(2, json(get(node.httpPort(), "/api/v1/devices/stats", onlyB)).get("total").asInt());
    assertEquals(0, json(get(node.httpPort(), "/api/v1/devices/stats?raeSerial=RAE-A", onlyB)).get("total").asInt());

    String both = TestTokens.token(Set.of(Scope.DEVICES_READ), List.of("RAE-A", "RAE-B"));
    TreeSet<String> all = new TreeSet<>(RAE_A);
    all.addAll(RAE_B);
    assertEquals(all, ids(json(get(node.httpPort(), "/api/v1/devices", both))));
    assertEquals(all, ids(json(get(node.httpPort(), "/api/v1/devices", TestTokens.admin()))));
    String none = TestTokens.token(Set.of(Scope.DEVICES_READ), List.of());
    assertEquals(Set.of(), ids(json(get(node.httpPort(), "/api/v1/devices", none))), "no raes claim: no devices");

    // Paging through a restricted list: the cursor continues the caller's own filtered query.
    JsonNode first = json(get(node.httpPort(), "/api/v1/devices?limit=2&sort=deviceSessionId", both));
    TreeSet<String> paged = new TreeSet<>(ids(first));
    String next = first.get("next").asText();
    while (next != null && !next.isEmpty() && !next.equals("null")) {
      JsonNode page = json(get(node.httpPort(), next, both));
      paged.addAll(ids(page));
      next = page.hasNonNull("next") ? page.get("next").asText() : null;
    }
    assertEquals(all, paged);
    HttpResponse<String> foreignCursor = get(node.httpPort(), first.get("next").asText(), onlyB);
    assertProblem(foreignCursor, 400, "request.invalid", null);
  }

  @Test
  void theEventStreamShowsOnlyTheCallersRaes() throws Exception {
    String onlyB = TestTokens.token(Set.of(Scope.DEVICES_READ), List.of("RAE-B"));
    try (DeviceEventsIT.Client stream = new DeviceEventsIT.Client(node.httpPort(), "", onlyB, null)) {
      assertEquals(200, stream.response.statusCode());
      ReadSideFixture.apply(node.system(), RAE_A.get(1), "RAE-A", Channel.UPDATE, 5000,
          Map.of("esn", ReadSideFixture.text("hidden")), null, null, System.currentTimeMillis(), 0);
      ReadSideFixture.apply(node.system(), RAE_B.get(1), "RAE-B", Channel.UPDATE, 5000,
          Map.of("esn", ReadSideFixture.text("shown")), null, null, System.currentTimeMillis(), 0);
      assertEquals(RAE_B.get(1), stream.next().data().get("deviceSessionId").asText(), "RAE-A's event is not shown");
    }
  }

  @Test
  void healthAndMetricsStayOpen() throws Exception {
    assertEquals(200, get(node.httpPort(), "/health/live", null).statusCode());
    assertEquals(200, get(node.httpPort(), "/metrics", null).statusCode());
  }

  // ------------------------------------------------------------------------------------ fixtures

  private static String distributionBody(String document, int recipients) {
    StringBuilder r = new StringBuilder("[");
    for (int i = 0; i < recipients; i++) {
      r.append(i == 0 ? "" : ",").append("{\"name\":\"M").append(i).append("\",\"email\":\"m").append(i)
          .append("@example.com\"}");
    }
    return "{\"files\":[{\"documentId\":\"" + document + "\"}],\"recipients\":" + r + "]}";
  }

  private static String newDistribution(String document, int recipients) throws Exception {
    return json(expect(202, send("POST", Call.json("/api/v1/distributions", distributionBody(document, recipients)),
        TestTokens.admin()))).get("id").asText();
  }

  private static String newLongDistribution() throws Exception {
    String doc = json(expect(201, send("POST", new Call("/api/v1/documents", "application/pdf", longPdf),
        TestTokens.admin()))).get("documentId").asText();
    return newDistribution(doc, 12);
  }

  private static String newInstance(String workflow) throws Exception {
    return json(expect(201, send("POST", Call.json("/api/v1/workflows/" + workflow + "/instances", "{}"),
        TestTokens.admin()))).get("instanceId").asText();
  }

  /** Never due during the test (06:00 daily); the matrix workflow takes no params. */
  private static final String SCHEDULE_BODY = "{\"cron\":\"0 6 * * *\"}";
  /** A signal name nothing publishes, so subscribing starts nothing. */
  private static final String SUBSCRIPTION_BODY = "{\"signal\":\"matrix-never-sent\"}";

  private static String newSchedule() throws Exception {
    return json(expect(201, send("POST", Call.json("/api/v1/workflows/matrix/schedules", SCHEDULE_BODY),
        TestTokens.admin()))).get("scheduleId").asText();
  }

  private static final java.util.concurrent.atomic.AtomicInteger PREDICATES = new java.util.concurrent.atomic.AtomicInteger();

  /** Predicate names are unique: every call names a new one. */
  private static String predicateBody() {
    return "{\"name\":\"matrix-" + PREDICATES.incrementAndGet() + "\",\"signal\":\"matrix-fleet\","
        + "\"match\":{\"testState\":\"available\"},\"quantifier\":\"all\"}";
  }

  private static String newPredicate() throws Exception {
    return json(expect(201, send("POST", Call.json("/api/v1/signals/predicates", predicateBody()),
        TestTokens.admin()))).get("predicateId").asText();
  }

  private static String newSubscription() throws Exception {
    return json(expect(201, send("POST", Call.json("/api/v1/workflows/matrix/subscriptions", SUBSCRIPTION_BODY),
        TestTokens.admin()))).get("subscriptionId").asText();
  }

  private static String pausedInstance() throws Exception {
    String id = newInstance("matrix");
    expect(200, send("POST", Call.json("/api/v1/workflows/matrix/instances/" + id + "/actions/pause", ""),
        TestTokens.admin()));
    return id;
  }

  private static String failedInstance() throws Exception {
    String id = newInstance("matrix-fail");
    NodeFixture.awaitResponse(node.httpPort(), "/api/v1/workflows/matrix-fail/instances/" + id,
        r -> r.statusCode() == 200 && r.body().contains("\"FAILED\""), Duration.ofSeconds(30));
    return id;
  }

  private static HttpResponse<String> expect(int status, HttpResponse<String> response) {
    assertEquals(status, response.statusCode(), response.body());
    return response;
  }

  static HttpResponse<String> send(String method, Call call, String token) throws Exception {
    return send(method, call, token == null ? null : "Bearer " + token, true);
  }

  private static HttpResponse<String> send(String method, Call call, String authorization, boolean raw)
      throws Exception {
    HttpRequest.Builder request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + node.httpPort() + call.path()))
        .timeout(Duration.ofSeconds(20));
    if (authorization != null) {
      request.header("Authorization", authorization);
    }
    if (call.contentType() != null) {
      request.header("Content-Type", call.contentType());
    }
    request.method(method, call.body() == null ? HttpRequest.BodyPublishers.noBody()
        : HttpRequest.BodyPublishers.ofByteArray(call.body()));
    if (call.path().startsWith("/api/v1/devices/events")) {
      // A stream never ends: the status and headers are the answer; hang up after them.
      HttpResponse<java.io.InputStream> stream = NodeFixture.HTTP.send(request.build(),
          HttpResponse.BodyHandlers.ofInputStream());
      String body = stream.statusCode() == 200 ? "" : new String(stream.body().readAllBytes(), StandardCharsets.UTF_8);
      stream.body().close();
      return new StringResponse(stream, body);
    }
    return NodeFixture.HTTP.send(request.build(), HttpResponse.BodyHandlers.ofString());
  }

  /** A streamed response with the part of its body that was read. */
  private record StringResponse(HttpResponse<?> raw, String body) implements HttpResponse<String> {
    @Override
    public int statusCode() {
      return raw.statusCode();
    }

    @Override
    public HttpRequest request() {
      return raw.request();
    }

    @Override
    public java.util.Optional<HttpResponse<String>> previousResponse() {
      return java.util.Optional.empty();
    }

    @Override
    public java.net.http.HttpHeaders headers() {
      return raw.headers();
    }

    @Override
    public URI uri() {
      return raw.uri();
    }

    @Override
    public java.net.http.HttpClient.Version version() {
      return raw.version();
    }

    @Override
    public java.util.Optional<javax.net.ssl.SSLSession> sslSession() {
      return raw.sslSession();
    }
  }

  private static Set<String> ids(JsonNode page) {
    Set<String> ids = new TreeSet<>();
    assertTrue(page.has("items"), "a page: " + page);
    page.get("items").forEach(item -> ids.add(item.get("deviceSessionId").asText()));
    return ids;
  }

  static void assertProblem(HttpResponse<String> response, int status, String code, Object context) throws Exception {
    assertEquals(status, response.statusCode(), context + ": " + response.body());
    assertEquals("application/problem+json", response.headers().firstValue("Content-Type").orElse(""), context + "");
    assertEquals(code, json(response).get("code").asText(), context + ": " + response.body());
    assertTrue(json(response).get("detail").asText().length() > 10, "a detail saying what to do: " + response.body());
  }

  /** alg "none": must never pass, whatever its claims. */
  private static String unsignedAdminToken() {
    var claims = new com.nimbusds.jwt.JWTClaimsSet.Builder().subject("x").claim("scope", "admin")
        .claim("raes", List.of(Caller.ALL_RAES)).expirationTime(new java.util.Date(System.currentTimeMillis() + 3_600_000))
        .build();
    return new com.nimbusds.jwt.PlainJWT(claims).serialize();
  }
}
