package io.fleetplane.http;

import static io.fleetplane.http.NodeFixture.json;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
 * the token, is what is judged): each answer is the documented problem, with the offending field
 * where there is one, and nothing is ever a 5xx.
 */
class ApiBadInputIT {

  private static PostgresEndpoint db;
  private static FleetplaneNode node;
  private static String device;

  /** A request and what it must be answered with. */
  record Case(String method, String path, int status, String code, String field) {}

  @BeforeAll
  static void start() throws Exception {
    db = TestPostgres.newSchema();
    node = ReadSideFixture.start(ReadSideFixture.nodeConfig(db, true));
    device = UUID.randomUUID().toString();
    ReadSideFixture.apply(node.system(), device, "RAE-1", Channel.UPDATE, 1000,
        Map.of("esn", ReadSideFixture.text("E")), null, null, System.currentTimeMillis(), 0);
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

    List<String> failures = new ArrayList<>();
    for (Case c : cases) {
      HttpResponse<String> response = send(c.method(), c.path());
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

  private static HttpResponse<String> send(String method, String path) throws Exception {
    return NodeFixture.HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + node.httpPort() + path))
        .timeout(Duration.ofSeconds(10))
        .header("Authorization", "Bearer " + TestTokens.admin())
        .method(method, HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
  }

  private static String abbreviate(String text) {
    return text.length() > 160 ? text.substring(0, 160) + "..." : text;
  }
}
