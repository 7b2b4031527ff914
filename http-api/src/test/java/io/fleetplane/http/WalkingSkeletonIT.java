package io.fleetplane.http;

import static io.fleetplane.http.NodeFixture.awaitResponse;
import static io.fleetplane.http.NodeFixture.get;
import static io.fleetplane.http.NodeFixture.json;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.fleetplane.testkit.infra.EmbeddedKafka;
import io.fleetplane.testkit.infra.EmbeddedMqttBroker;
import io.fleetplane.testkit.infra.PostgresEndpoint;
import io.fleetplane.testkit.infra.TestPostgres;
import org.eclipse.paho.mqttv5.client.MqttAsyncClient;
import org.eclipse.paho.mqttv5.client.MqttConnectionOptions;
import org.eclipse.paho.mqttv5.client.persist.MemoryPersistence;
import org.eclipse.paho.mqttv5.common.MqttMessage;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Duration;
import java.time.Instant;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The walking skeleton end to end on real parts: Paho -> embedded MQTT 5 broker (HiveMQ CE) ->
 * bridge -> in-process Kafka -> registry stream -> DeviceSession -> PostgreSQL journal -> HTTP.
 */
class WalkingSkeletonIT {

  private static EmbeddedKafka kafka;
  private static PostgresEndpoint db;
  private static FleetplaneNode node;
  private static String mqttUri;

  @BeforeAll
  static void start() throws Exception {
    kafka = NodeFixture.startKafka();
    db = TestPostgres.newSchema();
    mqttUri = EmbeddedMqttBroker.shared().serverUri();
    node = NodeFixture.startNode(NodeFixture.nodeConfig(db, kafka.bootstrapServers(), mqttUri, "skeleton"));
  }

  @AfterAll
  static void stop() throws Exception {
    NodeFixture.stopAll(node, kafka, db);
  }

  @Test
  void anMqttUpdateBecomesVisibleOverHttpAndIsJournaled() throws Exception {
    String session = UUID.randomUUID().toString();
    NodeFixture.publish(mqttUri, "fleet/rae/RAE-1/device/" + session + "/update",
        "{\"ts\":1,\"attributes\":{\"esn\":\"X\"}}");
    NodeFixture.publish(mqttUri, "fleet/rae/RAE-1/device/" + session + "/update",
        "{\"ts\":2,\"attributes\":{\"mac\":\"00:11:22:33:44:55\"}}");

    HttpResponse<String> response = awaitResponse(node.httpPort(), "/api/v1/devices/" + session,
        r -> r.statusCode() == 200 && r.body().contains("00:11:22"), Duration.ofSeconds(30));
    assertEquals("application/json", response.headers().firstValue("content-type").orElseThrow());
    JsonNode device = json(response);
    assertEquals(session, device.get("deviceSessionId").asText());
    assertEquals("RAE-1", device.get("raeSerial").asText());
    assertEquals("X", device.get("attributes").get("esn").asText(), "merged, not replaced");
    assertEquals("00:11:22:33:44:55", device.get("attributes").get("mac").asText());
    assertEquals("1970-01-01T00:00:00.001Z", device.get("attributesReportedAt").get("esn").asText());
    Instant lastUpdate = Instant.parse(device.get("lastUpdateAt").asText());
    assertTrue(lastUpdate.isAfter(Instant.now().minusSeconds(60)), "lastUpdateAt is the apply time");

    try (Connection connection = db.connect();
        PreparedStatement query = connection.prepareStatement(
            "SELECT count(*) FROM event_journal WHERE persistence_id = ?")) {
      query.setString(1, "DeviceSession|" + session);
      try (ResultSet rows = query.executeQuery()) {
        rows.next();
        assertEquals(2, rows.getInt(1), "both updates are events in the PostgreSQL journal");
      }
    }
  }

  /**
   * A device that dies without saying goodbye: the broker publishes its last will, whose ts dates
   * from the connect (older than the device's later updates), and the registry still marks the
   * session disconnected (docs/protocol.md, "Last will").
   */
  @Test
  void aDevicesLastWillMarksItDisconnectedAfterItsNewerUpdates() throws Exception {
    String session = UUID.randomUUID().toString();
    String prefix = "fleet/rae/RAE-1/device/" + session;
    long connectedAt = System.currentTimeMillis();
    MqttAsyncClient device = new MqttAsyncClient(mqttUri, "will-" + session, new MemoryPersistence());
    MqttConnectionOptions options = new MqttConnectionOptions();
    MqttMessage will = new MqttMessage(
        ("{\"version\":1,\"ts\":" + connectedAt + ",\"connected\":false}").getBytes(StandardCharsets.UTF_8));
    will.setQos(1);
    options.setWill(prefix + "/connection", will);
    device.connect(options).waitForCompletion(10_000);
    try {
      device.publish(prefix + "/connection", ("{\"version\":1,\"ts\":" + connectedAt + ",\"connected\":true}")
          .getBytes(StandardCharsets.UTF_8), 1, false).waitForCompletion(10_000);
      device.publish(prefix + "/update", ("{\"version\":1,\"ts\":" + (connectedAt + 10)
          + ",\"attributes\":{\"fw\":\"2.1\"}}").getBytes(StandardCharsets.UTF_8), 1, false).waitForCompletion(10_000);
      awaitResponse(node.httpPort(), "/api/v1/devices/" + session,
          r -> r.statusCode() == 200 && r.body().contains("\"fw\"") && r.body().contains("\"CONNECTED\""),
          Duration.ofSeconds(30));
    } finally {
      device.disconnectForcibly(0, 1_000, false); // no DISCONNECT packet: the broker sends the will
      device.close(true);
    }

    JsonNode gone = json(awaitResponse(node.httpPort(), "/api/v1/devices/" + session,
        r -> r.statusCode() == 200 && r.body().contains("\"DISCONNECTED\""), Duration.ofSeconds(30)));
    assertEquals("2.1", gone.get("attributes").get("fw").asText(), "the will changed the connection only");
    assertEquals(3, gone.get("appliedMessages").asInt(), gone.toString());
  }

  @Test
  void unknownAndInvalidIdsAreProblemDocuments() throws Exception {
    HttpResponse<String> unknown = get(node.httpPort(), "/api/v1/devices/" + UUID.randomUUID());
    assertEquals(404, unknown.statusCode());
    assertEquals("application/problem+json", unknown.headers().firstValue("content-type").orElseThrow());
    assertEquals("device.not-found", json(unknown).get("code").asText());
    assertEquals(404, json(unknown).get("status").asInt());

    HttpResponse<String> invalid = get(node.httpPort(), "/api/v1/devices/not-a-uuid");
    assertEquals(400, invalid.statusCode());
    assertEquals("device.session-id-invalid", json(invalid).get("code").asText());
    assertEquals("deviceSessionId", json(invalid).get("field").asText());

    HttpResponse<String> noRoute = get(node.httpPort(), "/api/v2/nothing");
    assertEquals(404, noRoute.statusCode());
    assertEquals("route.not-found", json(noRoute).get("code").asText());
  }

  @Test
  void readyWhenEveryPartIsUpAndMetricsArePrometheusText() throws Exception {
    HttpResponse<String> ready = awaitResponse(node.httpPort(), "/health/ready",
        r -> r.statusCode() == 200, Duration.ofSeconds(20));
    JsonNode parts = json(ready).get("parts");
    assertEquals("up", parts.get("database").asText());
    assertEquals("up", parts.get("bridge").asText());
    assertEquals("up", parts.get("registry-ingest").asText());

    String session = UUID.randomUUID().toString();
    NodeFixture.publish(mqttUri, "fleet/rae/RAE-1/device/" + session + "/update", "{\"ts\":1}");
    HttpResponse<String> metrics = awaitResponse(node.httpPort(), "/metrics",
        r -> r.body().contains("fleetplane_bridge_messages_forwarded"), Duration.ofSeconds(20));
    assertTrue(metrics.body().contains("# TYPE"), "Prometheus exposition format");
    assertTrue(io.fleetplane.testkit.infra.FreePorts.isFree(5266)
        && !io.fleetplane.testkit.infra.FreePorts.accepts("127.0.0.1", 5266, 200),
        "Kamon's status page (0.0.0.0:5266 by default) must not run");
  }

  @Test
  void badInputIsDeadLetteredAndDoesNotStopTheFlow() throws Exception {
    String session = UUID.randomUUID().toString();
    NodeFixture.publish(mqttUri, "fleet/rae/RAE-1/device/" + session + "/update", "not json");
    NodeFixture.publish(mqttUri, "fleet/rae/RAE-1/device/" + session + "/update", "{\"attributes\":{}}");
    NodeFixture.publish(mqttUri, "fleet/rae/RAE-1/device/" + session + "/update", "{\"ts\":5,\"attributes\":{\"esn\":\"ok\"}}");
    HttpResponse<String> response = awaitResponse(node.httpPort(), "/api/v1/devices/" + session,
        r -> r.statusCode() == 200, Duration.ofSeconds(30));
    assertEquals("ok", json(response).get("attributes").get("esn").asText());
    assertEquals(1, json(response).get("appliedMessages").asLong(), "only the valid message was applied");
  }
}
