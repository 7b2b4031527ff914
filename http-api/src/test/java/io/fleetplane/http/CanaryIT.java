package io.fleetplane.http;

import static io.fleetplane.http.NodeFixture.awaitResponse;
import static io.fleetplane.http.NodeFixture.json;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.fleetplane.testkit.canary.Canary;
import io.fleetplane.testkit.canary.CanaryProgress;
import io.fleetplane.testkit.canary.CanaryReport;
import io.fleetplane.testkit.canary.CanaryResult;
import io.fleetplane.testkit.canary.CanarySettings;
import io.fleetplane.testkit.infra.EmbeddedKafka;
import io.fleetplane.testkit.infra.EmbeddedMqttBroker;
import io.fleetplane.testkit.infra.PostgresEndpoint;
import io.fleetplane.testkit.infra.TestPostgres;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A small canary (one actor and one real Paho client per device) against a real node: embedded
 * MQTT broker -> bridge -> Kafka -> registry -> PostgreSQL journal -> HTTP. The verdict must pass
 * and add up, the report files must be written, and the canary sessions must stay out of the fleet
 * views unless asked for.
 */
class CanaryIT {

  private static final int CLIENTS = 100;
  private static final int MESSAGES = 5;

  private static EmbeddedKafka kafka;
  private static PostgresEndpoint db;
  private static FleetplaneNode node;
  private static String mqttUri;

  @BeforeAll
  static void start() throws Exception {
    kafka = NodeFixture.startKafka();
    db = TestPostgres.newSchema();
    mqttUri = EmbeddedMqttBroker.shared().serverUri();
    Map<String, Object> config = NodeFixture.nodeConfig(db, kafka.bootstrapServers(), mqttUri, "canary");
    // The node's own scheduled canary (small) and heartbeat probe run alongside the tests' canaries.
    config.putAll(scheduled());
    node = NodeFixture.startNode(config);
  }

  @AfterAll
  static void stop() throws Exception {
    NodeFixture.stopAll(node, kafka, db);
  }

  /** A scheduled canary that runs once right after start-up, and a fast heartbeat. */
  static Map<String, Object> scheduled() {
    return Map.of(
        "fleetplane.node.canary.interval", "1 hour",
        "fleetplane.node.canary.initial-delay", "0 s",
        "fleetplane.node.canary.heartbeat.interval", "1 s",
        "fleetplane.node.canary.heartbeat.timeout", "3 s",
        "fleetplane.canary.clients", 10,
        "fleetplane.canary.messages-per-client", 2,
        // Generous: it starts together with the tests' own canaries on a shared machine.
        "fleetplane.canary.verify-timeout", "30 s",
        "fleetplane.canary.lag-drain-timeout", "3 s",
        "fleetplane.canary.sample-interval", "500 ms");
  }

  static CanarySettings settings(String mqttUri, int httpPort, Map<String, Object> overrides) {
    Map<String, Object> c = new java.util.HashMap<>(Map.of(
        "fleetplane.canary.mqtt-uri", mqttUri,
        "fleetplane.canary.http-url", "http://127.0.0.1:" + httpPort,
        "fleetplane.canary.sample-interval", "500 ms",
        "fleetplane.canary.verify-timeout", "30 s",
        "fleetplane.canary.lag-drain-timeout", "15 s",
        "fleetplane.canary.run-timeout", "90 s",
        // The canary reads sessions only: a devices:read token is all it should need.
        "fleetplane.canary.token", TestTokens.token(java.util.Set.of(io.fleetplane.http.auth.Scope.DEVICES_READ),
            java.util.List.of("*"))));
    c.putAll(overrides);
    Config config = ConfigFactory.parseMap(c).withFallback(ConfigFactory.load());
    return CanarySettings.fromConfig(config);
  }

  @Test
  void aSmallFlashCanaryPassesWithAVerdictThatAddsUp(@TempDir Path reports) throws Exception {
    // A real device, to prove the fleet views still count it while leaving the canary out.
    String real = UUID.randomUUID().toString();
    NodeFixture.publish(mqttUri, "fleet/rae/RAE-REAL/device/" + real + "/update", "{\"ts\":1,\"attributes\":{\"esn\":\"R\"}}");

    CanarySettings settings = settings(mqttUri, node.httpPort(), Map.of(
        "fleetplane.canary.clients", CLIENTS,
        "fleetplane.canary.messages-per-client", MESSAGES,
        "fleetplane.canary.checkpoint-every", 2,
        "fleetplane.canary.mqtt-version", "5"));
    List<CanaryProgress> progress = new CopyOnWriteArrayList<>();
    CanaryResult result = Canary.runStandalone(ConfigFactory.load(), settings, progress::add);

    assertTrue(result.passed(), result.table());
    assertEquals(CLIENTS, result.connections().attempted());
    assertEquals(CLIENTS, result.connections().succeeded());
    assertEquals(0, result.connections().failed());
    long expected = (long) CLIENTS * (MESSAGES + 2);
    assertEquals(expected, result.messages().sent(), "connection events included");
    assertEquals(expected, result.messages().acknowledged());
    assertEquals(CLIENTS, result.messages().sessionsVerified(), result.table());
    // Sessions check once the node's counters say their messages went through, not from the
    // moment they stop publishing: about one read each, not one per poll interval.
    assertTrue(result.messages().sessionReads() >= CLIENTS && result.messages().sessionReads() <= 3L * CLIENTS,
        result.table());
    assertEquals(CLIENTS, result.latency().sessions());
    assertTrue(result.latency().p50Millis() <= result.latency().p99Millis()
        && result.latency().p99Millis() <= result.latency().maxMillis());
    assertTrue(result.latency().maxMillis() < 30_000, result.table());
    assertEquals(expected, result.pipeline().get(0).messages());
    // The verdict's stage counts come from /metrics, which Kamon refreshes once per tick: at the moment
    // the verdict is taken the bridge's count can still be one tick behind. The node's live counter must
    // catch up with everything the broker acknowledged.
    io.fleetplane.testkit.Eventually.await(Duration.ofSeconds(15), () -> {
      try {
        String metrics = NodeFixture.get(node.httpPort(), "/metrics").body();
        return io.fleetplane.testkit.canary.PrometheusText.sum(metrics, "fleetplane_bridge_messages_forwarded",
            Map.of("direction", "device-to-cloud")).orElse(0) >= expected;
      } catch (java.io.IOException | InterruptedException e) {
        return false;
      }
    }, () -> "the bridge forwarded them all; verdict read " + result.pipeline());
    assertEquals(expected, result.pipeline().get(3).messages(), "every message visible over HTTP");
    assertNull(result.diagnosis());
    assertNotNull(result.lag().peak(), "lag read from the node's /metrics");
    assertTrue(result.lag().backToZero());
    assertFalse(progress.isEmpty(), "progress reported while running");
    assertEquals(CLIENTS, progress.get(progress.size() - 1).connected());

    CanaryReport.Files files = CanaryReport.write(result, reports);
    assertEquals(result.runId(), CanaryReport.read(files.json()).runId());
    assertEquals(result.messages(), CanaryReport.read(files.json()).messages(), "JSON round-trips");
    byte[] png = Files.readAllBytes(files.png());
    assertArrayEquals(new byte[] {(byte) 0x89, 'P', 'N', 'G'}, java.util.Arrays.copyOf(png, 4));
    assertTrue(result.table().contains("PASS") && result.table().contains("p99"), result.table());

    // A canary session over HTTP: tagged with the reserved RAE prefix and the run attribute.
    String raeFilter = "raeSerial=canary-" + result.runId();
    var canaryList = awaitResponse(node.httpPort(), "/api/v1/devices/stats?" + raeFilter,
        r -> r.statusCode() == 200 && total(r) == CLIENTS, Duration.ofSeconds(30));
    assertEquals(CLIENTS, json(canaryList).path("total").asLong(), "asking for a canary RAE by name includes it");
    // The node's own scheduled canary and heartbeat sessions are canary sessions too.
    var all = awaitResponse(node.httpPort(), "/api/v1/devices/stats?includeCanary=true",
        r -> r.statusCode() == 200 && total(r) >= CLIENTS + 1 + 10 + 1, Duration.ofSeconds(30));
    assertTrue(json(all).path("byRaeSerial").toString().contains("canary-" + result.runId()), all.body());
    var fleet = NodeFixture.get(node.httpPort(), "/api/v1/devices/stats");
    assertEquals(1, json(fleet).path("total").asLong(), "fleet stats leave canary sessions out: " + fleet.body());
    var list = NodeFixture.get(node.httpPort(), "/api/v1/devices?limit=500");
    assertEquals(1, json(list).path("items").size(), list.body());
    assertEquals(real, json(list).path("items").get(0).path("deviceSessionId").asText());
    var invalid = NodeFixture.get(node.httpPort(), "/api/v1/devices?includeCanary=yes");
    assertEquals(400, invalid.statusCode());
    assertEquals("includeCanary", json(invalid).path("field").asText());
  }

  @Test
  void theCommandLineRunsACanaryWithATokenAndExitsZeroOnPass(@TempDir Path dir) throws Exception {
    Path token = Files.writeString(dir.resolve("token"),
        TestTokens.token(java.util.Set.of(io.fleetplane.http.auth.Scope.DEVICES_READ), java.util.List.of("*")) + "\n");
    Path reports = dir.resolve("reports");
    int exit = new picocli.CommandLine(new Launcher()).execute("canary", "--clients", "20", "--messages", "2",
        "--http-url", "http://127.0.0.1:" + node.httpPort(), "--mqtt-url", mqttUri, "--token", token.toString(),
        "--report-dir", reports.toString(), "--verify-timeout-s", "30");
    assertEquals(0, exit, "pass verdict exits 0");
    try (var files = Files.list(reports)) {
      List<String> names = files.map(p -> p.getFileName().toString()).sorted().toList();
      assertEquals(2, names.size(), names.toString());
      assertTrue(names.get(0).endsWith(".json") && names.get(1).endsWith(".png"), names.toString());
    }

    int unreachable = new picocli.CommandLine(new Launcher()).execute("canary", "--clients", "2", "--messages", "1",
        "--http-url", "http://127.0.0.1:" + node.httpPort(), "--mqtt-url", "tcp://127.0.0.1:"
            + io.fleetplane.testkit.infra.FreePorts.next(), "--report-dir", reports.toString());
    assertEquals(1, unreachable, "connections refused: a fail verdict exits 1");
  }

  @Test
  void theNodesScheduledCanaryAndHeartbeatReportOverHttpAndAsMetrics() throws Exception {
    var runs = awaitResponse(node.httpPort(), "/api/v1/canary/runs",
        r -> r.statusCode() == 200 && r.body().contains("\"passed\""), Duration.ofSeconds(60));
    var body = json(runs);
    assertTrue(body.path("scheduled").asBoolean());
    assertEquals("PT1H", body.path("interval").asText());
    var run = body.path("runs").get(0);
    assertTrue(run.path("passed").asBoolean(), runs.body());
    assertEquals(10, run.path("connections").path("succeeded").asInt());
    assertEquals(10, run.path("messages").path("sessionsVerified").asInt());

    var heartbeat = awaitResponse(node.httpPort(), "/api/v1/canary/heartbeat",
        r -> r.statusCode() == 200 && r.body().contains("\"OK\"") && beats(r) >= 3, Duration.ofSeconds(30));
    assertTrue(json(heartbeat).path("lastLatencyMillis").isNumber(), heartbeat.body());

    var metrics = awaitResponse(node.httpPort(), "/metrics",
        r -> r.body().contains("fleetplane_canary_heartbeat_ok 1") && r.body().contains("fleetplane_canary_runs"),
        Duration.ofSeconds(20));
    assertTrue(metrics.body().contains("verdict=\"pass\""), "runs counted by verdict");
  }

  private static long beats(java.net.http.HttpResponse<String> response) {
    try {
      return json(response).path("beats").asLong();
    } catch (java.io.IOException e) {
      return -1;
    }
  }

  private static long total(java.net.http.HttpResponse<String> response) {
    try {
      return json(response).path("total").asLong();
    } catch (java.io.IOException e) {
      return -1;
    }
  }
}
