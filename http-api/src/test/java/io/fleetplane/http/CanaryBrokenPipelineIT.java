package io.fleetplane.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import io.fleetplane.testkit.canary.Canary;
import io.fleetplane.testkit.canary.CanaryResult;
import io.fleetplane.testkit.canary.CanarySettings;
import io.fleetplane.testkit.infra.EmbeddedKafka;
import io.fleetplane.testkit.infra.EmbeddedMqttBroker;
import io.fleetplane.testkit.infra.PostgresEndpoint;
import io.fleetplane.testkit.infra.TestPostgres;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A canary against a node whose registry consumer does not run: the bridge still puts every
 * message on Kafka, nothing reaches the sessions, and the verdict must fail and say where the
 * messages stopped.
 */
class CanaryBrokenPipelineIT {

  private static EmbeddedKafka kafka;
  private static PostgresEndpoint db;
  private static FleetplaneNode node;
  private static String mqttUri;

  @BeforeAll
  static void start() throws Exception {
    kafka = NodeFixture.startKafka();
    db = TestPostgres.newSchema();
    mqttUri = EmbeddedMqttBroker.shared().serverUri();
    Map<String, Object> config = NodeFixture.nodeConfig(db, kafka.bootstrapServers(), mqttUri, "canary-broken");
    config.put("fleetplane.node.run-registry", false);
    config.putAll(CanaryIT.scheduled());
    config.put("fleetplane.canary.verify-timeout", "4 s"); // nothing will arrive: fail fast
    node = NodeFixture.startNode(config);
  }

  @AfterAll
  static void stop() throws Exception {
    NodeFixture.stopAll(node, kafka, db);
  }

  @Test
  void theScheduledCanaryFailsAndTheHeartbeatReportsBroken() throws Exception {
    var runs = NodeFixture.awaitResponse(node.httpPort(), "/api/v1/canary/runs",
        r -> r.statusCode() == 200 && r.body().contains("\"passed\""), Duration.ofSeconds(60));
    var run = NodeFixture.json(runs).path("runs").get(0);
    assertFalse(run.path("passed").asBoolean(), runs.body());
    assertTrue(run.path("diagnosis").asText().contains("processed by the registry"), runs.body());

    var heartbeat = NodeFixture.awaitResponse(node.httpPort(), "/api/v1/canary/heartbeat",
        r -> r.statusCode() == 503, Duration.ofSeconds(30));
    var status = NodeFixture.json(heartbeat);
    assertEquals("BROKEN", status.path("state").asText());
    assertTrue(status.path("problem").asText().contains("not visible over HTTP"), heartbeat.body());
    assertTrue(status.path("problem").asText().contains("session not found"), heartbeat.body());

    NodeFixture.awaitResponse(node.httpPort(), "/metrics",
        r -> r.body().contains("fleetplane_canary_heartbeat_ok 0") && r.body().contains("fleetplane_canary_heartbeat_failures")
            && r.body().contains("verdict=\"fail\""), Duration.ofSeconds(20));
  }

  @Test
  void aStoppedRegistryFailsTheVerdictAndTheVerdictSaysWhere() {
    CanarySettings settings = CanaryIT.settings(mqttUri, node.httpPort(), Map.of(
        "fleetplane.canary.clients", 20,
        "fleetplane.canary.messages-per-client", 3,
        "fleetplane.canary.verify-timeout", "4 s",
        "fleetplane.canary.lag-drain-timeout", "3 s"));
    CanaryResult result = Canary.runStandalone(ConfigFactory.load(), settings, p -> { });

    assertFalse(result.passed(), result.table());
    assertEquals(20, result.connections().succeeded());
    assertEquals(100, result.messages().acknowledged(), "the broker took every message");
    assertEquals(0, result.messages().sessionsVerified());
    assertEquals(20, result.messages().unverifiedReasons().get("session not found over HTTP"), result.table());
    assertTrue(result.pipeline().get(1).messages() >= 100, "the bridge forwarded them: " + result.pipeline());
    assertEquals(0, result.pipeline().get(2).messages(), "the registry processed none");
    assertNotNull(result.diagnosis(), result.table());
    assertTrue(result.diagnosis().contains("after 'forwarded to Kafka by the bridge'")
        && result.diagnosis().contains("processed by the registry"), result.diagnosis());
    assertTrue(result.failures().stream().anyMatch(f -> f.contains("20 sessions did not show")), result.failures().toString());
    assertTrue(result.table().contains("FAIL") && result.table().contains("diagnosis"), result.table());
  }
}
