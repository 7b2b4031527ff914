package io.fleetplane.http;

import static io.fleetplane.http.NodeFixture.awaitResponse;
import static io.fleetplane.http.NodeFixture.json;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import io.fleetplane.testkit.infra.EmbeddedKafka;
import io.fleetplane.testkit.infra.EmbeddedMqttBroker;
import io.fleetplane.testkit.infra.PostgresEndpoint;
import io.fleetplane.testkit.infra.TestPostgres;
import java.time.Duration;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * A device session's state survives the actor system: the second node runs neither the bridge
 * nor the registry consumer, so what it serves can only come from the PostgreSQL journal.
 */
class JournalSurvivesRestartIT {

  @Test
  void aRestartedNodeServesTheJournaledState() throws Exception {
    PostgresEndpoint db = TestPostgres.newSchema();
    String mqttUri = EmbeddedMqttBroker.shared().serverUri();
    String session = UUID.randomUUID().toString();
    try (EmbeddedKafka kafka = NodeFixture.startKafka()) {
      Map<String, Object> config = NodeFixture.nodeConfig(db, kafka.bootstrapServers(), mqttUri, "restart");
      FleetplaneNode first = NodeFixture.startNode(config);
      JsonNode before;
      try {
        NodeFixture.publish(mqttUri, "fleet/rae/RAE-7/device/" + session + "/update",
            "{\"ts\":10,\"state\":\"in-test\",\"attributes\":{\"esn\":\"E-1\",\"firmware\":\"1.2.3\"}}");
        before = json(awaitResponse(first.httpPort(), "/api/v1/devices/" + session,
            r -> r.statusCode() == 200, Duration.ofSeconds(30)));
      } finally {
        first.stop().toCompletableFuture().get();
      }

      config.put("fleetplane.node.run-bridge", false);
      config.put("fleetplane.node.run-registry", false);
      FleetplaneNode second = NodeFixture.startNode(config);
      try {
        JsonNode after = json(awaitResponse(second.httpPort(), "/api/v1/devices/" + session,
            r -> r.statusCode() == 200, Duration.ofSeconds(30)));
        assertEquals("E-1", after.get("attributes").get("esn").asText());
        assertEquals("1.2.3", after.get("attributes").get("firmware").asText());
        assertEquals("in-test", after.get("testState").asText());
        assertEquals("RAE-7", after.get("raeSerial").asText());
        assertEquals(before, after, "recovered state is identical to the state before the restart");
      } finally {
        second.stop().toCompletableFuture().get();
      }
    } finally {
      TestPostgres.dropSchema(db);
    }
  }
}
