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
import io.fleetplane.testkit.infra.PostgresEndpoint;
import io.fleetplane.testkit.infra.TestPostgres;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The authorization matrix over real HTTP on a real node: for every /api/v1 route, no token ->
 * 401 with a Bearer challenge, an unusable token -> 401, a token without the scope -> 403, a
 * device of another RAE -> 404 exactly like an unknown one and lists filtered to the caller's
 * RAEs, the right token -> 200. New routes join {@link #ROUTES}.
 */
class ApiAuthorizationIT {

  /** One route of the matrix: a request path (with a device of RAE-A where it takes one) and its scope. */
  record RouteCase(String path, Scope scope) {}

  private static PostgresEndpoint db;
  private static FleetplaneNode node;
  private static final List<String> RAE_A = new ArrayList<>();
  private static final List<String> RAE_B = new ArrayList<>();
  private static List<RouteCase> ROUTES;

  @BeforeAll
  static void start() throws Exception {
    db = TestPostgres.newSchema();
    node = ReadSideFixture.start(ReadSideFixture.nodeConfig(db, true));
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
    String a = RAE_A.get(0);
    ROUTES = List.of(
        new RouteCase("/api/v1/devices/" + a, Scope.DEVICES_READ),
        new RouteCase("/api/v1/devices/" + a + "/history", Scope.DEVICES_READ),
        new RouteCase("/api/v1/devices", Scope.DEVICES_READ),
        new RouteCase("/api/v1/devices/stats", Scope.DEVICES_READ));
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
  void noTokenIs401WithABearerChallengeOnEveryRouteAndIsCounted() throws Exception {
    long before = Metrics.count(Problem.METRIC, Map.of("code", "auth.token-missing", "status", "401"));
    for (RouteCase route : ROUTES) {
      HttpResponse<String> response = get(node.httpPort(), route.path(), null);
      assertProblem(response, 401, "auth.token-missing", route);
      String challenge = response.headers().firstValue("WWW-Authenticate").orElse("");
      assertTrue(challenge.startsWith("Bearer realm=\"fleetplane\""), route + ": " + challenge);
      assertTrue(!challenge.contains("error="), "no error code without credentials (RFC 6750): " + challenge);
    }
    assertEquals(before + ROUTES.size(),
        Metrics.count(Problem.METRIC, Map.of("code", "auth.token-missing", "status", "401")));
  }

  @Test
  void unusableTokensAre401InvalidToken() throws Exception {
    TokenMinter otherKey = TokenMinter.hmac("another-installation-secret-0123456789".getBytes(StandardCharsets.UTF_8));
    String foreign = otherKey.mint(TokenMinter.Grant.of("x", Set.of(Scope.ADMIN), List.of("*"), Duration.ofHours(1)));
    String unsigned = unsignedAdminToken();
    for (RouteCase route : ROUTES) {
      for (String token : List.of("not-a-jwt", foreign, unsigned, TestTokens.admin() + "x")) {
        HttpResponse<String> response = get(node.httpPort(), route.path(), token);
        assertProblem(response, 401, "auth.token-invalid", route);
        assertTrue(response.headers().firstValue("WWW-Authenticate").orElse("").matches(".*error=\"?invalid_token\"?.*"),
            route + " " + response.headers().map());
      }
      String expired = TestTokens.minter().mint(TokenMinter.Grant.of("x", Set.of(Scope.ADMIN), List.of("*"),
          Duration.ofMinutes(-5)));
      assertProblem(get(node.httpPort(), route.path(), expired), 401, "auth.token-expired", route);
      HttpResponse<String> basic = NodeFixture.HTTP.send(java.net.http.HttpRequest.newBuilder(
              java.net.URI.create("http://127.0.0.1:" + node.httpPort() + route.path()))
          .header("Authorization", "Basic dXNlcjpwYXNz").GET().build(), HttpResponse.BodyHandlers.ofString());
      assertProblem(basic, 401, "auth.token-invalid", route);
    }
  }

  @Test
  void aTokenWithoutTheRoutesScopeIs403() throws Exception {
    String token = TestTokens.token(Set.of(Scope.JOBS_READ, Scope.DEVICES_WRITE, Scope.WORKFLOWS_READ), List.of("*"));
    for (RouteCase route : ROUTES) {
      HttpResponse<String> response = get(node.httpPort(), route.path(), token);
      assertProblem(response, 403, "auth.scope-missing", route);
      String challenge = response.headers().firstValue("WWW-Authenticate").orElse("");
      assertTrue(challenge.matches(".*error=\"?insufficient_scope\"?.*") && challenge.contains(route.scope().claimValue()),
          challenge);
    }
  }

  @Test
  void theRightTokenIs200AndAdminImpliesEveryScope() throws Exception {
    for (String token : List.of(TestTokens.token(Set.of(Scope.DEVICES_READ), List.of("RAE-A")), TestTokens.admin())) {
      for (RouteCase route : ROUTES) {
        HttpResponse<String> response = get(node.httpPort(), route.path(), token);
        assertEquals(200, response.statusCode(), route + ": " + response.body());
      }
    }
  }

  @Test
  void anotherRaesDeviceIsAnsweredLikeAnUnknownOne() throws Exception {
    String onlyB = TestTokens.token(Set.of(Scope.DEVICES_READ), List.of("RAE-B"));
    String a = RAE_A.get(0);
    String unknown = UUID.randomUUID().toString();
    HttpResponse<String> hidden = get(node.httpPort(), "/api/v1/devices/" + a, onlyB);
    HttpResponse<String> absent = get(node.httpPort(), "/api/v1/devices/" + unknown, onlyB);
    assertProblem(hidden, 404, "device.not-found", null);
    assertEquals(absent.body().replace(unknown, "ID"), hidden.body().replace(a, "ID"), "indistinguishable");
    assertProblem(get(node.httpPort(), "/api/v1/devices/" + a + "/history", onlyB), 404, "device.not-found", null);
    assertEquals(200, get(node.httpPort(), "/api/v1/devices/" + RAE_B.get(0), onlyB).statusCode());
    assertEquals(200, get(node.httpPort(), "/api/v1/devices/" + RAE_B.get(0) + "/history", onlyB).statusCode());
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
  void healthAndMetricsStayOpen() throws Exception {
    assertEquals(200, get(node.httpPort(), "/health/live", null).statusCode());
    assertEquals(200, get(node.httpPort(), "/metrics", null).statusCode());
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
