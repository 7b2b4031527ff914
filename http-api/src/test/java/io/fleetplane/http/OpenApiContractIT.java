package io.fleetplane.http;

import static io.fleetplane.http.NodeFixture.json;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.fleetplane.config.ids.DeviceTopic.Channel;
import io.fleetplane.http.auth.Scope;
import io.fleetplane.testkit.infra.PostgresEndpoint;
import io.fleetplane.testkit.infra.TestPostgres;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Keeps /api/v1/openapi.json true, against the real server: every documented operation is served
 * with a documented status and, for a JSON success, a body that has its schema's required fields
 * (and its 401/403 when it declares a scope; an operation with an empty security list is served
 * without a token); and, the other way, every method on every documented path and a list of
 * plausible undocumented paths (where routes of other issues will live) is answered 404/405 unless
 * the document has it, so a route added without documenting it fails here.
 *
 * <p>Path parameters are filled from {@link #PARAMS}: real fixtures (a device session, an uploaded
 * document, a distribution, a stored workflow and its instance) where cheap, so reads answer 200
 * and their schemas are checked. Operations are called without a body: that is a bad request for
 * most writes, which must then be a documented 4xx.
 */
class OpenApiContractIT {

  private static final List<String> METHODS = List.of("GET", "POST", "PUT", "PATCH", "DELETE");
  /** Where routes are likely to appear; each must be documented once it answers. */
  private static final List<String> PROBES = List.of("/api/v1", "/api/v1/", "/api/v1/jobs", "/api/v1/jobs/" + UUID.randomUUID(),
      "/api/v1/commands/" + UUID.randomUUID(), "/api/v1/devices/" + UUID.randomUUID() + "/commands",
      "/api/v1/devices/events", "/api/v1/devices/stats/x", "/api/v1/openapi.yaml", "/api/v1/health", "/api/v1/metrics",
      "/api/v1/admin", "/api/v1/tokens", "/api/v1/documents/" + UUID.randomUUID(),
      "/api/v1/distributions/" + UUID.randomUUID() + "/recipients", "/api/v1/workflows/x/versions",
      "/api/v1/workflows/x/instances/y/actions/retry", "/api/v1/canary", "/api/v1/canary/runs/latest", "/d",
      "/d/x/y");
  /** Values for path parameters ({name} in the document), filled with fixtures in {@link #start()}. */
  private static final Map<String, String> PARAMS = new LinkedHashMap<>();

  private static PostgresEndpoint db;
  private static FleetplaneNode node;
  private static String device;
  private static JsonNode doc;

  @BeforeAll
  static void start() throws Exception {
    db = TestPostgres.newSchema();
    Map<String, Object> config = ReadSideFixture.nodeConfig(db, true);
    config.put("fleetplane.jobs.distribution.store-dir", Files.createTempDirectory("fp-openapi-").toString());
    node = ReadSideFixture.start(config);
    device = UUID.randomUUID().toString();
    ReadSideFixture.apply(node.system(), device, "RAE-1", Channel.UPDATE, 1000,
        Map.of("esn", ReadSideFixture.text("E")), "in-test", null, System.currentTimeMillis(), 0);
    ReadSideFixture.await("projected", Duration.ofSeconds(30), ReadSideFixture.quietly(() ->
        ReadSideFixture.rowCountAndAppliedSum(db)[0] == 1));
    HttpResponse<String> response = send("GET", "/api/v1/openapi.json", null);
    assertEquals(200, response.statusCode(), "the document is served without a token");
    doc = json(response);
    assertTrue(doc.get("openapi").asText().startsWith("3."), "OpenAPI 3");

    PARAMS.put("deviceSessionId", device);
    // No command was sent: reading one answers its documented 404.
    PARAMS.put("commandId", UUID.randomUUID().toString());
    HttpResponse<String> document = send("POST", "/api/v1/documents", "application/pdf",
        DistributionHttpIT.pdf("openapi", 1, false));
    assertEquals(201, document.statusCode(), document.body());
    PARAMS.put("documentId", json(document).get("documentId").asText());
    HttpResponse<String> distribution = send("POST", "/api/v1/distributions", "application/json",
        ("{\"files\": [{\"documentId\": \"" + PARAMS.get("documentId") + "\"}], \"recipients\": [{\"name\": \"Contract\", "
            + "\"email\": \"contract@example.com\"}]}").getBytes(StandardCharsets.UTF_8));
    assertEquals(202, distribution.statusCode(), distribution.body());
    PARAMS.put("distributionId", json(distribution).get("id").asText());
    PARAMS.put("recipientId", "r0");
    // Links reach recipients by e-mail only: an unknown token (answered 404) stands in.
    PARAMS.put("token", "openapi-contract-no-such-link");
    HttpResponse<String> workflow = send("POST", "/api/v1/workflows", "application/yaml", """
        id: openapi-contract
        owner: it
        steps:
          - {id: nap, type: wait, params: {duration: 1m}}
          - id: loop
            type: foreach
            foreach: {items: "range(2)", as: i, concurrency: 1, steps: [{id: nap, type: wait, params: {duration: 1m}}]}
        """.getBytes(StandardCharsets.UTF_8));
    assertEquals(201, workflow.statusCode(), workflow.body());
    PARAMS.put("workflowId", "openapi-contract");
    PARAMS.put("version", json(workflow).get("version").asText());
    HttpResponse<String> instance = send("POST", "/api/v1/workflows/openapi-contract/instances", "application/json",
        "{}".getBytes(StandardCharsets.UTF_8));
    assertEquals(201, instance.statusCode(), instance.body());
    PARAMS.put("instanceId", json(instance).get("instanceId").asText());
    PARAMS.put("stepId", "loop");
    // Fires once a year (1 January): it exists for the reads, it does not start instances here.
    HttpResponse<String> schedule = send("POST", "/api/v1/workflows/openapi-contract/schedules", "application/json",
        "{\"cron\": \"0 0 1 1 *\"}".getBytes(StandardCharsets.UTF_8));
    assertEquals(201, schedule.statusCode(), schedule.body());
    PARAMS.put("scheduleId", json(schedule).get("scheduleId").asText());
    HttpResponse<String> subscription = send("POST", "/api/v1/workflows/openapi-contract/subscriptions",
        "application/json", "{\"signal\": \"openapi-contract\"}".getBytes(StandardCharsets.UTF_8));
    assertEquals(201, subscription.statusCode(), subscription.body());
    PARAMS.put("subscriptionId", json(subscription).get("subscriptionId").asText());
    HttpResponse<String> signal = send("POST", "/api/v1/signals", "application/json",
        "{\"signalId\": \"openapi-contract-1\", \"name\": \"openapi-contract\"}".getBytes(StandardCharsets.UTF_8));
    assertEquals(201, signal.statusCode(), signal.body());
    PARAMS.put("signalId", "openapi-contract-1");
    HttpResponse<String> predicate = send("POST", "/api/v1/signals/predicates", "application/json",
        ("{\"name\": \"openapi-contract\", \"signal\": \"openapi-contract\", \"match\": {\"testState\": \"idle\"},"
            + " \"quantifier\": \"all\"}").getBytes(StandardCharsets.UTF_8));
    assertEquals(201, predicate.statusCode(), predicate.body());
    PARAMS.put("predicateId", json(predicate).get("predicateId").asText());
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
  void everyDocumentedOperationIsServedAsDocumented() throws Exception {
    List<String> failures = new ArrayList<>();
    int operations = 0;
    for (Iterator<Map.Entry<String, JsonNode>> paths = doc.get("paths").fields(); paths.hasNext(); ) {
      Map.Entry<String, JsonNode> path = paths.next();
      String concrete = concrete(path.getKey());
      for (Iterator<Map.Entry<String, JsonNode>> ops = path.getValue().fields(); ops.hasNext(); ) {
        Map.Entry<String, JsonNode> op = ops.next();
        operations++;
        String method = op.getKey().toUpperCase();
        JsonNode responses = op.getValue().get("responses");
        String what = method + " " + path.getKey();
        if (responses.at("/200/content").has("text/event-stream")) {
          // A stream never ends: check that it opens as documented, then hang up.
          HttpResponse<java.util.stream.Stream<String>> stream = NodeFixture.HTTP.send(HttpRequest.newBuilder(
                  URI.create("http://127.0.0.1:" + node.httpPort() + concrete))
              .header("Authorization", "Bearer " + TestTokens.admin()).GET().build(), HttpResponse.BodyHandlers.ofLines());
          stream.body().close();
          if (stream.statusCode() != 200 || !stream.headers().firstValue("Content-Type").orElse("").equals("text/event-stream")) {
            failures.add(what + " did not open an event stream: " + stream.statusCode() + " " + stream.headers().map());
          }
          expect(what + " without token", send(method, concrete, null), 401, responses, failures);
          continue;
        }
        HttpResponse<String> ok = send(method, concrete, TestTokens.admin());
        if (!responses.has(Integer.toString(ok.statusCode()))) {
          failures.add(what + " answered undocumented " + ok.statusCode() + ": " + abbreviate(ok.body()));
          continue;
        }
        JsonNode schema = responses.get(Integer.toString(ok.statusCode())).at("/content/application~1json/schema");
        if (ok.statusCode() / 100 == 2 && !schema.isMissingNode()) {
          if (!ok.headers().firstValue("Content-Type").orElse("").startsWith("application/json")) {
            failures.add(what + " answered " + ok.statusCode() + " without its documented application/json: "
                + ok.headers().firstValue("Content-Type"));
          } else {
            missingRequired(schema, json(ok), what, failures);
          }
        }
        if (op.getValue().has("x-scope")) {
          Scope scope = Scope.parse(op.getValue().get("x-scope").asText()).orElseThrow();
          expect(what + " without token", send(method, concrete, null), 401, responses, failures);
          Set<Scope> others = java.util.EnumSet.complementOf(java.util.EnumSet.of(scope, Scope.ADMIN));
          expect(what + " without " + scope, send(method, concrete, TestTokens.token(others, List.of("*"))), 403,
              responses, failures);
        } else {
          assertTrue(op.getValue().has("security") && op.getValue().get("security").isEmpty(),
              what + " declares neither x-scope nor an empty security list");
          HttpResponse<String> open = send(method, concrete, null);
          if (open.statusCode() == 401 || !responses.has(Integer.toString(open.statusCode()))) {
            failures.add(what + " without token answered " + open.statusCode() + " (open: expected a documented status)");
          }
        }
      }
    }
    assertTrue(operations >= 5, "the document lists the API: " + operations);
    assertTrue(failures.isEmpty(), String.join("\n", failures));
  }

  @Test
  void nothingUndocumentedIsServed() throws Exception {
    List<String> failures = new ArrayList<>();
    Set<String> candidates = new LinkedHashSet<>();
    doc.get("paths").fieldNames().forEachRemaining(p -> candidates.add(concrete(p)));
    candidates.addAll(PROBES);
    // Every action documented anywhere, tried on every resource that documents an action: an
    // undocumented sibling (say .../actions/pause next to a documented .../actions/cancel) fails.
    Set<String> actions = new LinkedHashSet<>();
    Set<String> actionParents = new LinkedHashSet<>();
    doc.get("paths").fieldNames().forEachRemaining(p -> {
      int at = p.lastIndexOf("/actions/");
      if (at >= 0) {
        actions.add(p.substring(at + "/actions/".length()));
        actionParents.add(concrete(p.substring(0, at)));
      }
    });
    actions.addAll(List.of("cancel", "pause", "resume", "restart", "retry", "revoke", "delete", "archive", "approve"));
    actionParents.forEach(parent -> actions.forEach(a -> candidates.add(parent + "/actions/" + a)));
    for (String candidate : candidates) {
      Map<String, JsonNode> templates = matchingTemplates(candidate);
      for (String method : METHODS) {
        boolean documented = templates.values().stream().anyMatch(t -> t.has(method.toLowerCase()));
        if (documented) {
          continue; // checked by everyDocumentedOperationIsServedAsDocumented
        }
        HttpResponse<String> response = send(method, candidate, TestTokens.admin());
        int expected = templates.isEmpty() ? 404 : 405;
        if (response.statusCode() != expected) {
          failures.add(method + " " + candidate + " answered " + response.statusCode() + " (expected " + expected
              + ": not in openapi.json): " + abbreviate(response.body()));
        }
      }
    }
    assertTrue(failures.isEmpty(), String.join("\n", failures));
  }

  private static String abbreviate(String body) {
    return body.length() <= 300 ? body : body.substring(0, 300) + "...";
  }

  /** The template with every {param} replaced by its fixture; a parameter without one fails the test. */
  private static String concrete(String template) {
    Matcher m = Pattern.compile("\\{([^}]+)}").matcher(template);
    StringBuilder out = new StringBuilder();
    while (m.find()) {
      String value = PARAMS.get(m.group(1));
      assertTrue(value != null, "no fixture for path parameter {" + m.group(1) + "} of " + template + ": add it to PARAMS");
      m.appendReplacement(out, Matcher.quoteReplacement(value));
    }
    return m.appendTail(out).toString();
  }

  /** Documented path templates that match a concrete path ({param} matches one segment). */
  private static Map<String, JsonNode> matchingTemplates(String path) {
    Map<String, JsonNode> matches = new LinkedHashMap<>();
    String[] segments = path.split("/", -1);
    doc.get("paths").fields().forEachRemaining(e -> {
      String[] template = e.getKey().split("/", -1);
      boolean match = template.length == segments.length;
      for (int i = 0; match && i < template.length; i++) {
        match = template[i].startsWith("{") ? !segments[i].isEmpty() : template[i].equals(segments[i]);
      }
      if (match) {
        matches.put(e.getKey(), e.getValue());
      }
    });
    return matches;
  }

  private static void expect(String what, HttpResponse<String> response, int status, JsonNode responses,
      List<String> failures) {
    if (response.statusCode() != status || !responses.has(Integer.toString(status))) {
      failures.add(what + ": " + response.statusCode() + " (expected documented " + status + ")");
    }
  }

  /** Required properties of the schema (following $ref and allOf), checked on the body and its first array items. */
  private static void missingRequired(JsonNode schema, JsonNode body, String what, List<String> failures) {
    JsonNode s = resolve(schema);
    if (body.isArray()) {
      if (!s.has("items")) {
        failures.add(what + ": an array where the schema has none: " + body);
      } else if (body.size() > 0) {
        missingRequired(s.get("items"), body.get(0), what + "[0]", failures);
      }
      return;
    }
    if (s.has("allOf")) {
      s.get("allOf").forEach(part -> missingRequired(part, body, what, failures));
      return;
    }
    if (s.has("required")) {
      s.get("required").forEach(r -> {
        if (!body.has(r.asText())) {
          failures.add(what + ": response lacks required '" + r.asText() + "': " + body);
        }
      });
    }
    if (s.has("properties")) {
      s.get("properties").fields().forEachRemaining(p -> {
        JsonNode value = body.get(p.getKey());
        JsonNode ps = resolve(p.getValue());
        if (value != null && value.isArray() && ps.has("items") && value.size() > 0) {
          missingRequired(ps.get("items"), value.get(0), what + "." + p.getKey(), failures);
        }
      });
    }
  }

  private static JsonNode resolve(JsonNode schema) {
    JsonNode s = schema;
    while (s.has("$ref")) {
      s = doc.at(s.get("$ref").asText().substring(1));
    }
    return s;
  }

  private static HttpResponse<String> send(String method, String path, String token) throws Exception {
    HttpRequest.Builder request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + node.httpPort() + path))
        .timeout(Duration.ofSeconds(10)).method(method, HttpRequest.BodyPublishers.noBody());
    if (token != null) {
      request.header("Authorization", "Bearer " + token);
    }
    return NodeFixture.HTTP.send(request.build(), HttpResponse.BodyHandlers.ofString());
  }

  /** A fixture request, with a body, as admin. */
  private static HttpResponse<String> send(String method, String path, String contentType, byte[] body)
      throws Exception {
    return NodeFixture.HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + node.httpPort() + path))
        .timeout(Duration.ofSeconds(20)).header("Content-Type", contentType)
        .header("Authorization", "Bearer " + TestTokens.admin())
        .method(method, HttpRequest.BodyPublishers.ofByteArray(body)).build(), HttpResponse.BodyHandlers.ofString());
  }
}
