package io.fleetplane.http;

import static io.fleetplane.http.NodeFixture.json;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.fleetplane.config.ids.DeviceTopic.Channel;
import io.fleetplane.testkit.infra.PostgresEndpoint;
import io.fleetplane.testkit.infra.TestPostgres;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Hostile and malformed input on every /api/v1 route, with a valid admin token (so the input, not
 * the token, is what is judged): broken JSON, wrong types, unknown fields, huge bodies, wrong
 * content types, path traversal, NUL, overlong and non-UUID ids, negative/huge/non-numeric
 * limits and bad cursors. Each answer is the expected problem, with the offending field where
 * there is one, its status is one the OpenAPI document lists for that operation, and nothing is
 * ever a 5xx. {@link #everyDocumentedOperationIsAttacked} keeps the list complete.
 */
class ApiBadInputIT {

  private static PostgresEndpoint db;
  private static FleetplaneNode node;
  private static String device;
  private static String distribution;
  private static String instance;
  private static com.fasterxml.jackson.databind.JsonNode openApi;

  /** A request and what it must be answered with; {@code body} null sends none. */
  record Case(String method, String path, int status, String code, String field, String contentType, byte[] body) {
    Case(String method, String path, int status, String code, String field) {
      this(method, path, status, code, field, null, null);
    }

    static Case json(String method, String path, String json, int status, String code, String field) {
      return new Case(method, path, status, code, field, "application/json", json.getBytes(StandardCharsets.UTF_8));
    }
  }

  /** Ids that no route may take for an id: traversal, NUL, SQL, overlong, non-ASCII, not a UUID. */
  private static final List<String> HOSTILE_IDS = List.of("not-a-uuid", "..%2F..%2Fetc%2Fpasswd", "..%2F..", "%00",
      "abc%00def", "'%20OR%201=1--", "x".repeat(1000), "%F0%9F%92%A9", "%0D%0ASet-Cookie:x");

  @BeforeAll
  static void start() throws Exception {
    db = TestPostgres.newSchema();
    Map<String, Object> config = ReadSideFixture.nodeConfig(db, true);
    config.put("fleetplane.jobs.distribution.max-document-bytes", 200_000);
    config.put("fleetplane.jobs.distribution.store-dir", java.nio.file.Files.createTempDirectory("fp-bad-input-").toString());
    node = ReadSideFixture.start(config);
    device = UUID.randomUUID().toString();
    ReadSideFixture.apply(node.system(), device, "RAE-1", Channel.UPDATE, 1000,
        Map.of("esn", ReadSideFixture.text("E")), null, null, System.currentTimeMillis(), 0);
    openApi = json(send("GET", "/api/v1/openapi.json", null, null));
    String document = json(send("POST", "/api/v1/documents", "application/pdf", DistributionHttpIT.pdf("bad", 1, false)))
        .get("documentId").asText();
    distribution = json(send("POST", "/api/v1/distributions", "application/json", ("{\"files\":[{\"documentId\":\""
        + document + "\"}],\"recipients\":[{\"name\":\"B\",\"email\":\"b@example.com\"}]}")
        .getBytes(StandardCharsets.UTF_8))).get("id").asText();
    assertEquals(201, send("POST", "/api/v1/workflows", "application/yaml",
        "id: hostile\nowner: it\nsteps:\n  - {id: nap, type: wait, params: {duration: 10m}}\n".getBytes(StandardCharsets.UTF_8))
        .statusCode());
    instance = json(send("POST", "/api/v1/workflows/hostile/instances", "application/json",
        "{}".getBytes(StandardCharsets.UTF_8))).get("instanceId").asText();
  }

  @AfterAll
  static void stop() throws Exception {
    if (node != null) {
      ReadSideFixture.stop(node);
    }
    if (db != null) {
      TestPostgres.dropSchema(db);
    }
  }

  @Test
  void everyBadInputGetsItsDocumentedProblem() throws Exception {
    String forged = Base64.getUrlEncoder().withoutPadding().encodeToString("{\"s\":\"x\"}".getBytes(StandardCharsets.UTF_8));
    List<Case> cases = new ArrayList<>();
    for (String id : List.of("not-a-uuid", "..%2F..%2Fetc%2Fpasswd", "%00", "'%20OR%201=1--",
        device.toUpperCase(), device + "x", "x".repeat(1000), "%F0%9F%92%A9")) {
      cases.add(new Case("GET", "/api/v1/devices/" + id, 400, "device.session-id-invalid", "deviceSessionId"));
      cases.add(new Case("GET", "/api/v1/devices/" + id + "/history", 400, "device.session-id-invalid", "deviceSessionId"));
    }
    for (String limit : List.of("-1", "0", "501", "99999999999999999999", "abc", "", "1e2", "%00")) {
      cases.add(new Case("GET", "/api/v1/devices?limit=" + limit, 400, "request.invalid", "limit"));
      cases.add(new Case("GET", "/api/v1/devices/" + device + "/history?limit=" + limit, 400, "request.invalid", "limit"));
    }
    for (String cursor : List.of("garbage", forged, "%FF%FE", "", "aDE6LTE", "aDE6MA")) { // h1:-1, h1:0
      cases.add(new Case("GET", "/api/v1/devices?cursor=" + cursor, 400, "request.invalid", "cursor"));
      cases.add(new Case("GET", "/api/v1/devices/" + device + "/history?cursor=" + cursor, 400, "request.invalid", "cursor"));
    }
    cases.add(new Case("GET", "/api/v1/devices?limit=5&limit=6", 400, "request.invalid", "limit"));
    cases.add(new Case("GET", "/api/v1/devices?colour=red", 400, "request.invalid", "colour"));
    cases.add(new Case("GET", "/api/v1/devices/stats?limit=5", 400, "request.invalid", "limit"));
    cases.add(new Case("GET", "/api/v1/devices?raeSerial=fleet%2F%23", 400, "device.rae-serial-invalid", "raeSerial"));
    cases.add(new Case("GET", "/api/v1/devices/stats?raeSerial=%2B", 400, "device.rae-serial-invalid", "raeSerial"));
    cases.add(new Case("GET", "/api/v1/devices?connection=ONLINE", 400, "request.invalid", "connection"));
    cases.add(new Case("GET", "/api/v1/devices?sort=password", 400, "request.invalid", "sort"));
    cases.add(new Case("GET", "/api/v1/devices?attr.=x", 400, "request.invalid", "attr."));
    cases.add(new Case("GET", "/api/v1/devices?esn=" + "x".repeat(1500), 400, "request.invalid", "esn"));
    cases.add(new Case("GET", "/api/v1/devices/" + device + "/history?sort=x", 400, "request.invalid", "sort"));
    cases.add(new Case("POST", "/api/v1/devices", 405, "request.method-not-allowed", null));
    cases.add(new Case("DELETE", "/api/v1/devices/" + device, 405, "request.method-not-allowed", null));
    cases.add(new Case("PUT", "/api/v1/devices/stats", 405, "request.method-not-allowed", null));
    cases.add(new Case("GET", "/api/v1/device", 404, "route.not-found", null));
    cases.add(new Case("GET", "/api/v2/devices", 404, "route.not-found", null));
    cases.add(new Case("GET", "/api/v1/devices/" + device + "/history/extra", 404, "route.not-found", null));

    cases.addAll(otherRoutesCases());
    List<String> failures = new ArrayList<>();
    for (Case c : cases) {
      HttpResponse<String> response = send(c.method(), c.path(), c.contentType(), c.body());
      String what = c.method() + " " + abbreviate(c.path()) + " -> " + response.statusCode() + " " + abbreviate(response.body());
      if (response.statusCode() >= 500) {
        failures.add("5xx: " + what);
        continue;
      }
      try {
        assertEquals(c.status(), response.statusCode());
        assertEquals("application/problem+json", response.headers().firstValue("Content-Type").orElse(""));
        assertEquals(c.code(), json(response).get("code").asText());
        if (c.field() != null) {
          assertEquals(c.field(), json(response).path("field").asText());
        }
        assertFalse(json(response).get("detail").asText().isBlank());
        String documented = documentedStatuses(c.method(), c.path());
        if (documented != null && !documented.contains(" " + response.statusCode() + " ")) {
          failures.add(what + " (status not in openapi.json for this operation: " + documented.trim() + ")");
        }
      } catch (AssertionError | Exception e) {
        failures.add(what + " (expected " + c.status() + " " + c.code() + " field " + c.field() + ")");
      }
    }
    assertTrue(failures.isEmpty(), failures.size() + " of " + cases.size() + " cases:\n" + String.join("\n", failures));
  }

  @Test
  void dotSegmentsNeverReachAnythingButTheApi() throws Exception {
    for (String path : List.of("/api/v1/devices/../../../etc/passwd", "/api/v1/../../health/live/../../etc/passwd",
        "/api/v1/devices/%2e%2e/%2e%2e/metrics", "/api/v1/devices/%2E%2E", "/api/v1/devices/%2E%2E/history")) {
      HttpResponse<String> response = send("GET", path);
      assertTrue(response.statusCode() >= 400 && response.statusCode() < 500, path + " -> " + response.statusCode());
      assertEquals("application/problem+json", response.headers().firstValue("Content-Type").orElse(""), path);
      assertFalse(response.body().contains("root:"), path);
    }
  }

  /** Every route but the device reads above: ids, limits, bodies. */
  private static List<Case> otherRoutesCases() throws Exception {
    List<Case> cases = new ArrayList<>();
    String commands = "/api/v1/devices/" + device + "/commands";
    String dist = "/api/v1/distributions/" + distribution;
    String wf = "/api/v1/workflows/hostile";
    String inst = wf + "/instances/" + instance;
    String huge = "{\"name\":\"" + "x".repeat(100_000) + "\"}";
    for (String id : HOSTILE_IDS) {
      cases.add(Case.json("POST", "/api/v1/devices/" + id + "/commands", "{\"name\":\"reboot\"}", 400,
          "device.session-id-invalid", "deviceSessionId"));
      cases.add(new Case("GET", "/api/v1/devices/" + id + "/commands/" + UUID.randomUUID(), 400,
          "device.session-id-invalid", "deviceSessionId"));
      // Command ids are 1-128 of [A-Za-z0-9._:-] (request ids share the rule): "not-a-uuid" is one, unknown.
      cases.add(id.equals("not-a-uuid") ? new Case("GET", commands + "/" + id, 404, "command.not-found", null)
          : new Case("GET", commands + "/" + id, 400, "command.id-invalid", "commandId"));
      // Document ids are content hashes: anything else names no document, and never a file.
      cases.add(new Case("GET", "/api/v1/documents/" + id + "/thumbnail", 404, "document.not-found", null));
      for (String sub : List.of("", "/items", "/timeline")) {
        cases.add(new Case("GET", "/api/v1/distributions/" + id + sub, 400, "distribution.id-invalid", "distributionId"));
      }
      for (String action : List.of("/actions/cancel", "/actions/revoke", "/recipients/r0/actions/revoke")) {
        cases.add(Case.json("POST", "/api/v1/distributions/" + id + action, "", 400, "distribution.id-invalid",
            "distributionId"));
      }
      cases.add(Case.json("POST", dist + "/recipients/" + id + "/actions/revoke", "", 404,
          "distribution.recipient-not-found", "recipientId"));
      if (!id.equals("not-a-uuid")) { // a well-formed workflow id, just not stored: 404 below
        cases.add(new Case("GET", "/api/v1/workflows/" + id, 400, "workflow.id-invalid", "workflowId"));
        cases.add(new Case("GET", "/api/v1/workflows/" + id + "/versions/1", 400, "workflow.id-invalid", "workflowId"));
        cases.add(Case.json("POST", "/api/v1/workflows/" + id + "/instances", "{}", 400, "workflow.id-invalid",
            "workflowId"));
        cases.add(new Case("GET", "/api/v1/workflows/" + id + "/instances/" + instance, 400, "workflow.id-invalid",
            "workflowId"));
      }
      for (String sub : List.of("", "/steps", "/timeline", "/steps/nap/iterations")) {
        cases.add(new Case("GET", wf + "/instances/" + id + sub, 400, "workflow.instance-id-invalid", "instanceId"));
      }
      for (String action : List.of("cancel", "pause", "resume", "restart")) {
        cases.add(Case.json("POST", wf + "/instances/" + id + "/actions/" + action, "", 400,
            "workflow.instance-id-invalid", "instanceId"));
      }
    }
    cases.addAll(scheduleAndSignalCases(huge));
    cases.add(new Case("GET", "/api/v1/workflows/not-a-uuid", 404, "workflow.not-found", null));
    cases.add(new Case("GET", wf + "/versions/99999999999999999999", 404, "route.not-found", null));
    cases.add(new Case("GET", wf + "/versions/-1", 404, "route.not-found", null));
    cases.add(new Case("GET", wf + "/instances/" + UUID.randomUUID(), 404, "workflow.instance-not-found", null));

    // Limits, offsets, filters.
    for (String bad : List.of("-1", "0", "1001", "99999999999999999999", "abc", "", "1e2", "%00")) {
      cases.add(new Case("GET", dist + "/items?limit=" + bad, 400, "request.invalid", "limit"));
      cases.add(new Case("GET", dist + "/timeline?limit=" + bad, 400, "request.invalid", "limit"));
      cases.add(new Case("GET", inst + "/steps?limit=" + bad, 400, "request.invalid", "limit"));
    }
    for (String bad : List.of("-1", "99999999999999999999", "abc", "%00")) {
      cases.add(new Case("GET", dist + "/items?offset=" + bad, 400, "request.invalid", "offset"));
      cases.add(new Case("GET", dist + "/timeline?after=" + bad, 400, "request.invalid", "after"));
      cases.add(new Case("GET", inst + "/steps?offset=" + bad, 400, "request.invalid", "offset"));
    }
    cases.add(new Case("GET", dist + "/items?state=%00", 400, "request.invalid", "state"));
    cases.add(new Case("GET", inst + "/steps?state=sleepy", 400, "request.invalid", "state"));
    String iterations = inst + "/steps/nap/iterations";
    for (String bad : List.of("-1", "0", "1001", "99999999999999999999", "abc", "", "1e2", "%00")) {
      cases.add(new Case("GET", iterations + "?limit=" + bad, 400, "request.invalid", "limit"));
    }
    for (String bad : List.of("-1", "99999999999999999999", "abc", "%00")) {
      cases.add(new Case("GET", iterations + "?offset=" + bad, 400, "request.invalid", "offset"));
    }
    cases.add(new Case("GET", iterations + "?state=sleepy", 400, "request.invalid", "state"));
    cases.add(new Case("GET", iterations + "?state=%00", 400, "request.invalid", "state"));
    // A wait step has no iterations; a step the definition does not have, neither.
    cases.add(new Case("GET", iterations, 404, "workflow.step-not-foreach", "stepId"));
    cases.add(new Case("GET", inst + "/steps/nope/iterations", 404, "workflow.step-not-found", "stepId"));
    cases.add(new Case("GET", inst + "/steps/%00/iterations", 404, "workflow.step-not-found", "stepId"));

    // Command bodies.
    cases.add(Case.json("POST", commands, "{\"name\":", 400, "request.json-malformed", null));
    cases.add(Case.json("POST", commands, "[1,2]", 400, "request.json-malformed", null));
    cases.add(Case.json("POST", commands, "", 400, "request.json-malformed", null));
    cases.add(Case.json("POST", commands, "{\"name\":7}", 400, "request.invalid", "name"));
    cases.add(Case.json("POST", commands, "{\"name\":\"reboot\",\"params\":[1]}", 400, "request.invalid", "params"));
    cases.add(Case.json("POST", commands, "{\"name\":\"reboot\",\"timeoutMs\":\"soon\"}", 400, "request.invalid",
        "timeoutMs"));
    cases.add(Case.json("POST", commands, "{\"name\":\"reboot\",\"timeoutMs\":-5}", 400, "request.invalid",
        "timeoutMs"));
    cases.add(Case.json("POST", commands, "{\"name\":\"reboot\",\"timeoutMs\":1e300}", 400, "request.invalid",
        "timeoutMs"));
    cases.add(Case.json("POST", commands, "{\"name\":\"reboot\",\"colour\":1}", 400, "request.invalid", "colour"));
    cases.add(Case.json("POST", commands, "{\"name\":\"re\\u0000boot\"}", 400, "request.invalid", "name"));
    cases.add(Case.json("POST", commands, "{\"name\":\"reboot\",\"requestId\":\"r\\u0000\"}", 400,
        "request.invalid", "requestId"));
    cases.add(Case.json("POST", commands + "?async=maybe", "{\"name\":\"reboot\"}", 400, "request.invalid", "async"));
    cases.add(Case.json("POST", commands, huge, 413, "payload.too-large", null));
    cases.add(new Case("POST", commands, 415, "request.unsupported-media-type", null, "text/plain",
        "{\"name\":\"reboot\"}".getBytes(StandardCharsets.UTF_8)));

    // Documents: PDFs only, up to max-document-bytes (200 KB in this test).
    byte[] tooBig = new byte[300_000];
    System.arraycopy("%PDF-1.4\n".getBytes(StandardCharsets.US_ASCII), 0, tooBig, 0, 9);
    for (String path : List.of("/api/v1/documents", "/api/v1/documents/identify")) {
      cases.add(new Case("POST", path, 400, "document.not-pdf", null, "application/pdf",
          "{\"not\":\"a pdf\"}".getBytes(StandardCharsets.UTF_8)));
      cases.add(new Case("POST", path, 400, "document.not-pdf", null, "application/pdf",
          "%PDF-1.4\n%%garbage\u0000\n%%EOF".getBytes(StandardCharsets.UTF_8)));
      // Upload says "empty"; identify reads any body as a PDF and says it is not one: both documented 400s.
      cases.add(new Case("POST", path, 400, path.endsWith("identify") ? "document.not-pdf" : "document.empty", null,
          "application/pdf", new byte[0]));
      cases.add(new Case("POST", path, 413, "payload.too-large", null, "application/pdf", tooBig));
    }

    // Multipart uploads: the same checks and limits per part, plus the parts each request needs.
    String mp = DistributionHttpIT.MULTIPART;
    byte[] notPdf = "{\"not\":\"a pdf\"}".getBytes(StandardCharsets.UTF_8);
    byte[] goodPdf = DistributionHttpIT.pdf("multipart", 1, false);
    String spec = "{\"files\":[{\"part\":\"a.pdf\"}],\"recipients\":[{\"name\":\"x\",\"email\":\"y@z.io\"}]}";
    cases.add(new Case("POST", "/api/v1/documents", 400, "request.invalid", "file", mp, DistributionHttpIT.multipart(
        new Object[] {"other", null, "text/plain", "x".getBytes(StandardCharsets.UTF_8)})));
    cases.add(new Case("POST", "/api/v1/documents", 400, "document.not-pdf", null, mp,
        DistributionHttpIT.multipart(DistributionHttpIT.filePart("a.pdf", notPdf))));
    cases.add(new Case("POST", "/api/v1/documents", 413, "payload.too-large", null, mp,
        DistributionHttpIT.multipart(DistributionHttpIT.filePart("a.pdf", tooBig))));
    cases.add(new Case("POST", "/api/v1/distributions", 400, "request.invalid", "spec", mp,
        DistributionHttpIT.multipart(DistributionHttpIT.filePart("a.pdf", goodPdf))));
    cases.add(new Case("POST", "/api/v1/distributions", 400, "request.json-malformed", null, mp,
        DistributionHttpIT.multipart(DistributionHttpIT.specPart("{not json"), DistributionHttpIT.filePart("a.pdf", goodPdf))));
    cases.add(new Case("POST", "/api/v1/distributions", 400, "request.invalid", "colour", mp,
        DistributionHttpIT.multipart(DistributionHttpIT.specPart("{\"colour\":1}"))));
    cases.add(new Case("POST", "/api/v1/distributions", 400, "document.not-pdf", null, mp,
        DistributionHttpIT.multipart(DistributionHttpIT.specPart(spec), DistributionHttpIT.filePart("a.pdf", notPdf))));
    cases.add(new Case("POST", "/api/v1/distributions", 413, "payload.too-large", null, mp,
        DistributionHttpIT.multipart(DistributionHttpIT.specPart(spec), DistributionHttpIT.filePart("a.pdf", tooBig))));
    cases.add(new Case("POST", "/api/v1/distributions", 400, "request.invalid", "files.0.part", mp,
        DistributionHttpIT.multipart(DistributionHttpIT.specPart(spec), DistributionHttpIT.filePart("b.pdf", goodPdf))));
    cases.add(new Case("POST", "/api/v1/distributions", 400, "request.invalid", "files.0", mp,
        DistributionHttpIT.multipart(DistributionHttpIT.specPart("{\"files\":[{\"name\":\"n\"}]}"))));

    // Distribution bodies: the shared JsonBody reader, like every JSON route.
    cases.add(Case.json("POST", "/api/v1/distributions", "{not json", 400, "request.json-malformed", null));
    cases.add(Case.json("POST", "/api/v1/distributions", "{\"files\":\"x\"}", 400, "request.invalid", "files"));
    cases.add(Case.json("POST", "/api/v1/distributions", "{\"files\":[],\"recipients\":[],\"colour\":1}", 400,
        "request.invalid", "colour"));
    cases.add(Case.json("POST", "/api/v1/distributions", "{\"files\":[{\"documentId\":7,\"name\":[]}]}", 400,
        "request.invalid", "files.0.name"));
    cases.add(Case.json("POST", "/api/v1/distributions", "{\"files\":[],\"recipients\":[{\"name\":\"x\",\"email\":\"y@z.io\"}]}",
        400, "distribution.files-empty", null));
    cases.add(Case.json("POST", "/api/v1/distributions", "{\"files\":[{\"documentId\":\"x\"}],\"recipients\":"
        + "[{\"name\":\"x\",\"email\":\"y@z.io\"}],\"priority\":\"urgent\"}", 400, "distribution.priority-invalid", null));
    cases.add(Case.json("POST", "/api/v1/distributions", "{\"files\":[{\"documentId\":\"x\"}],\"recipients\":"
        + "[{\"name\":\"x\",\"email\":\"y@z.io\",\"pushTarget\":{\"deviceSessionId\":\"nope\"}}]}", 400,
        "distribution.push-target-invalid", null));
    cases.add(Case.json("POST", "/api/v1/distributions", "{\"x\":\"" + "y".repeat(100_000) + "\"}", 413,
        "payload.too-large", null));
    cases.add(new Case("POST", "/api/v1/distributions", 415, "request.unsupported-media-type", null, "text/plain",
        "{}".getBytes(StandardCharsets.UTF_8)));

    // Workflow bodies.
    cases.add(Case.json("POST", wf + "/instances", "{not json", 400, "request.json-malformed", null));
    cases.add(Case.json("POST", wf + "/instances", "[]", 400, "request.json-malformed", null));
    cases.add(Case.json("POST", wf + "/instances", "{\"params\":3}", 400, "request.invalid", "params"));
    cases.add(Case.json("POST", wf + "/instances", "{\"version\":\"one\"}", 400, "request.invalid", "version"));
    cases.add(Case.json("POST", wf + "/instances", "{\"requestId\":\"" + "r".repeat(201) + "\"}", 400,
        "request.invalid", "requestId"));
    cases.add(Case.json("POST", wf + "/instances", "{\"params\":{\"undeclared\":1}}", 400, "workflow.invalid-params",
        "params"));
    cases.add(Case.json("POST", wf + "/instances", "{\"p\":\"" + "y".repeat(2_000_000) + "\"}", 413,
        "payload.too-large", null));
    cases.add(new Case("POST", "/api/v1/workflows", 413, "payload.too-large", null, "application/yaml",
        ("id: big\ndescription: " + "y".repeat(2_000_000) + "\nsteps: []\n").getBytes(StandardCharsets.UTF_8)));
    cases.add(new Case("POST", "/api/v1/workflows", 400, "workflow.invalid-definition", null, "application/yaml",
        "id: [unclosed\n".getBytes(StandardCharsets.UTF_8)));
    cases.add(new Case("POST", "/api/v1/workflows", 400, "workflow.invalid-definition", null, "application/yaml",
        "id: \"a\\u0000b\"\nowner: it\nsteps:\n  - {id: a, type: noop}\n".getBytes(StandardCharsets.UTF_8)));
    cases.add(new Case("POST", "/api/v1/workflows", 400, "workflow.invalid-definition", null, "application/yaml",
        "id: nul\nowner: it\ndescription: \"a\\u0000b\"\nsteps:\n  - {id: a, type: noop}\n".getBytes(StandardCharsets.UTF_8)));
    cases.add(new Case("POST", "/api/v1/workflows?owner=%00", 400, "workflow.invalid-definition", null, "application/yaml",
        "id: owned\nsteps:\n  - {id: a, type: noop}\n".getBytes(StandardCharsets.UTF_8)));
    return cases;
  }

  /** Schedules, signals, subscriptions and lineage: path ids, paging, bodies. */
  private static List<Case> scheduleAndSignalCases(String huge) {
    List<Case> cases = new ArrayList<>();
    String wf = "/api/v1/workflows/hostile";
    String schedules = wf + "/schedules";
    String subscriptions = wf + "/subscriptions";
    for (String id : HOSTILE_IDS) {
      if (!id.equals("not-a-uuid")) { // a well-formed workflow id
        cases.add(new Case("GET", "/api/v1/workflows/" + id + "/schedules", 400, "workflow.id-invalid", "workflowId"));
        cases.add(Case.json("POST", "/api/v1/workflows/" + id + "/schedules", "{\"cron\":\"0 6 * * *\"}", 400,
            "workflow.id-invalid", "workflowId"));
        cases.add(new Case("GET", "/api/v1/workflows/" + id + "/subscriptions", 400, "workflow.id-invalid",
            "workflowId"));
        cases.add(Case.json("POST", "/api/v1/workflows/" + id + "/subscriptions", "{\"signal\":\"x\"}", 400,
            "workflow.id-invalid", "workflowId"));
        cases.add(new Case("GET", "/api/v1/workflows/" + id + "/instances/" + instance + "/lineage", 400,
            "workflow.id-invalid", "workflowId"));
        cases.add(new Case("GET", "/api/v1/signals/" + id, 400, "signal.id-invalid", "signalId"));
      }
      cases.add(new Case("GET", wf + "/instances/" + id + "/lineage", 400, "workflow.instance-id-invalid",
          "instanceId"));
      // Schedule and subscription ids are UUIDs: "not-a-uuid" too is no id at all.
      for (String sub : List.of("", "/fires")) {
        cases.add(new Case("GET", schedules + "/" + id + sub, 400, "schedule.id-invalid", "scheduleId"));
      }
      cases.add(new Case("DELETE", schedules + "/" + id, 400, "schedule.id-invalid", "scheduleId"));
      for (String action : List.of("enable", "disable")) {
        cases.add(Case.json("POST", schedules + "/" + id + "/actions/" + action, "", 400, "schedule.id-invalid",
            "scheduleId"));
      }
      cases.add(new Case("GET", subscriptions + "/" + id, 400, "subscription.id-invalid", "subscriptionId"));
      cases.add(new Case("DELETE", subscriptions + "/" + id, 400, "subscription.id-invalid", "subscriptionId"));
    }
    String unknown = UUID.randomUUID().toString();
    cases.add(new Case("GET", schedules + "/" + unknown, 404, "schedule.not-found", null));
    cases.add(new Case("DELETE", subscriptions + "/" + unknown, 404, "subscription.not-found", null));
    cases.add(new Case("GET", "/api/v1/signals/not-a-uuid", 404, "signal.not-found", null));
    cases.add(new Case("GET", "/api/v1/workflows/nobody/instances/" + instance + "/lineage", 404,
        "workflow.instance-not-found", null));
    for (String bad : List.of("-1", "101", "99999999999999999999", "abc", "", "%00")) {
      cases.add(new Case("GET", schedules + "?next=" + bad, 400, "request.invalid", "next"));
    }
    for (String bad : List.of("0", "1001", "abc", "%00")) {
      cases.add(new Case("GET", schedules + "/" + unknown + "/fires?limit=" + bad, 400, "request.invalid", "limit"));
    }

    // Schedule bodies: JsonBody for the shape, then the schedule's own rules.
    cases.add(Case.json("POST", schedules, "{not json", 400, "request.json-malformed", null));
    cases.add(Case.json("POST", schedules, "[]", 400, "request.json-malformed", null));
    cases.add(Case.json("POST", schedules, "{\"cron\":\"0 6 * * *\",\"colour\":1}", 400, "request.invalid", "colour"));
    cases.add(Case.json("POST", schedules, "{}", 400, "schedule.invalid", "cron"));
    cases.add(Case.json("POST", schedules, "{\"cron\":7}", 400, "schedule.invalid-cron", "cron"));
    cases.add(Case.json("POST", schedules, "{\"cron\":\"0 6\\u0000 * * *\"}", 400, "schedule.invalid-cron", "cron"));
    cases.add(Case.json("POST", schedules, "{\"cron\":\"" + "* ".repeat(500) + "\"}", 400, "schedule.invalid-cron",
        "cron"));
    cases.add(Case.json("POST", schedules, "{\"period\":\"fortnightly\"}", 400, "schedule.invalid-cron", "period"));
    cases.add(Case.json("POST", schedules, "{\"cron\":\"0 6 * * *\",\"timeZone\":\"../../etc/passwd\"}", 400,
        "schedule.invalid-time-zone", "timeZone"));
    cases.add(Case.json("POST", schedules, "{\"cron\":\"0 6 * * *\",\"maxCatchUp\":1e300}", 400, "schedule.invalid",
        "maxCatchUp"));
    cases.add(Case.json("POST", schedules, "{\"cron\":\"0 6 * * *\",\"params\":[1]}", 400, "schedule.invalid",
        "params"));
    cases.add(Case.json("POST", schedules, "{\"cron\":\"0 6 * * *\",\"params\":{\"undeclared\":1}}", 400,
        "schedule.invalid", "params"));
    cases.add(Case.json("POST", schedules, "{\"cron\":\"0 6 * * *\",\"enabled\":\"yes\"}", 400, "schedule.invalid",
        "enabled"));
    cases.add(Case.json("POST", schedules, huge, 413, "payload.too-large", null));
    cases.add(new Case("POST", schedules, 415, "request.unsupported-media-type", null, "text/plain",
        "{\"cron\":\"0 6 * * *\"}".getBytes(StandardCharsets.UTF_8)));

    // Signal bodies.
    cases.add(Case.json("POST", "/api/v1/signals", "{not json", 400, "request.json-malformed", null));
    cases.add(Case.json("POST", "/api/v1/signals", "{\"name\":\"x\",\"colour\":1}", 400, "request.invalid", "colour"));
    cases.add(Case.json("POST", "/api/v1/signals", "{\"name\":7}", 400, "signal.invalid", "name"));
    cases.add(Case.json("POST", "/api/v1/signals", "{\"name\":\"a\\u0000b\"}", 400, "signal.invalid", "name"));
    cases.add(Case.json("POST", "/api/v1/signals", "{\"name\":\"x\",\"signalId\":\"..%2F..\"}", 400, "signal.invalid",
        "signalId"));
    cases.add(Case.json("POST", "/api/v1/signals", "{\"name\":\"x\",\"signalId\":\"" + "s".repeat(201) + "\"}", 400,
        "signal.invalid", "signalId"));
    cases.add(Case.json("POST", "/api/v1/signals", "{\"name\":\"x\",\"params\":[1]}", 400, "signal.invalid", "params"));
    cases.add(Case.json("POST", "/api/v1/signals", "{\"name\":\"x\",\"time\":\"yesterday\"}", 400, "signal.invalid",
        "time"));
    cases.add(Case.json("POST", "/api/v1/signals", huge, 413, "payload.too-large", null));
    cases.add(new Case("POST", "/api/v1/signals", 415, "request.unsupported-media-type", null, "text/plain",
        "{\"name\":\"x\"}".getBytes(StandardCharsets.UTF_8)));

    // Device-state predicates: path ids (UUIDs), then bodies (parsed by DevicePredicate, every
    // field checked there, so an unknown field is predicate.invalid too).
    String predicates = "/api/v1/signals/predicates";
    for (String id : HOSTILE_IDS) {
      cases.add(new Case("GET", predicates + "/" + id, 400, "predicate.id-invalid", "predicateId"));
      cases.add(new Case("DELETE", predicates + "/" + id, 400, "predicate.id-invalid", "predicateId"));
    }
    cases.add(new Case("GET", predicates + "/" + unknown, 404, "predicate.not-found", null));
    cases.add(new Case("DELETE", predicates + "/" + unknown, 404, "predicate.not-found", null));
    String ok = "\"name\":\"p\",\"signal\":\"s\",\"match\":{\"testState\":\"a\"}";
    cases.add(Case.json("POST", predicates, "{not json", 400, "request.json-malformed", null));
    cases.add(Case.json("POST", predicates, "[]", 400, "predicate.invalid", null));
    cases.add(Case.json("POST", predicates, "{" + ok + ",\"quantifier\":\"all\",\"colour\":1}", 400,
        "predicate.invalid", "colour"));
    cases.add(Case.json("POST", predicates, "{\"name\":7,\"signal\":\"s\",\"match\":{\"testState\":\"a\"},"
        + "\"quantifier\":\"all\"}", 400, "predicate.invalid", "name"));
    cases.add(Case.json("POST", predicates, "{\"name\":\"a\\u0000b\",\"signal\":\"s\",\"match\":{\"testState\":\"a\"},"
        + "\"quantifier\":\"all\"}", 400, "predicate.invalid", "name"));
    cases.add(Case.json("POST", predicates, "{\"name\":\"p\",\"signal\":\"s\",\"quantifier\":\"all\"}", 400,
        "predicate.invalid", "match"));
    cases.add(Case.json("POST", predicates, "{" + ok + "}", 400, "predicate.invalid", "quantifier"));
    cases.add(Case.json("POST", predicates, "{" + ok + ",\"quantifier\":\"fraction\",\"threshold\":1e300}", 400,
        "predicate.invalid", "threshold"));
    cases.add(Case.json("POST", predicates, "{" + ok + ",\"quantifier\":\"fraction\",\"threshold\":\"95%\"}", 400,
        "predicate.invalid", "threshold"));
    cases.add(Case.json("POST", predicates, "{" + ok + ",\"quantifier\":\"all\",\"minDevices\":99999999999}", 400,
        "predicate.invalid", "minDevices"));
    cases.add(Case.json("POST", predicates, "{" + ok + ",\"quantifier\":\"all\",\"scope\":{\"testState\":\"b\"}}",
        400, "predicate.invalid", "match.testState"));
    cases.add(Case.json("POST", predicates, "{\"name\":\"p\",\"signal\":\"s\",\"match\":{\"connection\":\"ONLINE\"},"
        + "\"quantifier\":\"all\"}", 400, "predicate.invalid", "match.connection"));
    cases.add(Case.json("POST", predicates, "{\"name\":\"p\",\"signal\":\"s\",\"match\":{\"attributes\":{\"fw\":{}}},"
        + "\"quantifier\":\"all\"}", 400, "predicate.invalid", "match.attributes.fw"));
    cases.add(Case.json("POST", predicates, huge, 413, "payload.too-large", null));
    cases.add(new Case("POST", predicates, 415, "request.unsupported-media-type", null, "text/plain",
        ("{" + ok + ",\"quantifier\":\"all\"}").getBytes(StandardCharsets.UTF_8)));

    // Subscription bodies.
    cases.add(Case.json("POST", subscriptions, "{not json", 400, "request.json-malformed", null));
    cases.add(Case.json("POST", subscriptions, "{\"signal\":\"x\",\"colour\":1}", 400, "request.invalid", "colour"));
    cases.add(Case.json("POST", subscriptions, "{\"signal\":7}", 400, "subscription.invalid", "signal"));
    cases.add(Case.json("POST", subscriptions, "{\"signal\":\"x\",\"condition\":5}", 400, "subscription.invalid",
        "condition"));
    cases.add(Case.json("POST", subscriptions, "{\"signal\":\"x\",\"condition\":\"params.(\"}", 400,
        "subscription.invalid", null));
    cases.add(Case.json("POST", subscriptions, "{\"signal\":\"x\",\"params\":{\"undeclared\":1}}", 400,
        "subscription.invalid", "params"));
    cases.add(Case.json("POST", subscriptions, huge, 413, "payload.too-large", null));
    cases.add(new Case("POST", subscriptions, 415, "request.unsupported-media-type", null, "text/plain",
        "{\"signal\":\"x\"}".getBytes(StandardCharsets.UTF_8)));
    return cases;
  }

  @Test
  void everyDocumentedOperationIsAttacked() throws Exception {
    java.util.Set<String> attacked = new java.util.TreeSet<>();
    List<Case> all = new ArrayList<>(otherRoutesCases());
    all.add(new Case("GET", "/api/v1/devices/x", 0, null, null));
    all.add(new Case("GET", "/api/v1/devices/x/history", 0, null, null));
    all.add(new Case("GET", "/api/v1/devices?limit=-1", 0, null, null));
    all.add(new Case("GET", "/api/v1/devices/stats?limit=5", 0, null, null));
    for (Case c : all) {
      String template = template(c.method(), c.path());
      if (template != null) {
        attacked.add(c.method() + " " + template);
      }
    }
    java.util.Set<String> expected = new java.util.TreeSet<>();
    openApi.get("paths").fields().forEachRemaining(p -> p.getValue().fieldNames().forEachRemaining(m -> {
      JsonNode op = p.getValue().get(m);
      // Operations without parameters or a body have no input to break (lists of everything, the
      // document itself, /d/{token} which has its own test); the events stream is DeviceEventsIT's.
      boolean takesInput = op.has("parameters") || op.has("requestBody");
      if (takesInput && p.getKey().startsWith("/api/v1/") && !p.getKey().equals("/api/v1/devices/events")) {
        expected.add(m.toUpperCase() + " " + p.getKey());
      }
    }));
    expected.removeAll(attacked);
    assertTrue(expected.isEmpty(), "operations that take input but get no hostile case: " + expected);
  }

  /** The OpenAPI template a concrete path matches (query ignored), or null. */
  private static String template(String method, String path) {
    String[] segments = path.replaceAll("\\?.*", "").split("/", -1);
    for (var it = openApi.get("paths").fields(); it.hasNext(); ) {
      var e = it.next();
      String[] t = e.getKey().split("/", -1);
      boolean match = t.length == segments.length && e.getValue().has(method.toLowerCase());
      for (int i = 0; match && i < t.length; i++) {
        match = t[i].startsWith("{") ? !segments[i].isEmpty() : t[i].equals(segments[i]);
      }
      if (match) {
        return e.getKey();
      }
    }
    return null;
  }

  /** " 200 400 ... " for the operation the path matches, or null when it matches none (404/405 cases). */
  private static String documentedStatuses(String method, String path) {
    String template = template(method, path);
    if (template == null) {
      return null;
    }
    StringBuilder out = new StringBuilder(" ");
    openApi.get("paths").get(template).get(method.toLowerCase()).get("responses").fieldNames()
        .forEachRemaining(code -> out.append(code).append(' '));
    return out.toString();
  }

  private static HttpResponse<String> send(String method, String path) throws Exception {
    return send(method, path, null, null);
  }

  private static HttpResponse<String> send(String method, String path, String contentType, byte[] body)
      throws Exception {
    HttpRequest.Builder request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + node.httpPort() + path))
        .timeout(Duration.ofSeconds(30))
        .header("Authorization", "Bearer " + TestTokens.admin())
        .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofByteArray(body));
    if (contentType != null) {
      request.header("Content-Type", contentType);
    }
    return NodeFixture.HTTP.send(request.build(), HttpResponse.BodyHandlers.ofString());
  }

  private static String abbreviate(String text) {
    return text.length() > 160 ? text.substring(0, 160) + "..." : text;
  }
}
