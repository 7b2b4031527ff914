package io.fleetplane.http;

import static io.fleetplane.http.NodeFixture.awaitResponse;
import static io.fleetplane.http.NodeFixture.json;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fleetplane.testkit.infra.EmbeddedKafka;
import io.fleetplane.testkit.infra.MosquittoBroker;
import io.fleetplane.testkit.infra.PostgresEndpoint;
import io.fleetplane.testkit.infra.TestPostgres;
import java.sql.Connection;
import java.sql.ResultSet;
import java.time.Duration;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * The same flow against the services this machine runs: Mosquitto at 127.0.0.1:1883 and the
 * stock PostgreSQL server (its own schema, dropped afterwards). The node uses a client id and
 * consumer group of its own, so it does not disturb anything else using the broker.
 */
class MachineServicesIT {

  @Test
  void theFlowWorksOnTheMachinesMosquittoAndPostgres() throws Exception {
    String mosquitto = MosquittoBroker.requireMachineBroker();
    PostgresEndpoint db = TestPostgres.machineServerOrFail();
    String instance = "machine-it-" + UUID.randomUUID().toString().substring(0, 8);
    String session = UUID.randomUUID().toString();
    try (EmbeddedKafka kafka = NodeFixture.startKafka()) {
      Map<String, Object> config = NodeFixture.nodeConfig(db, kafka.bootstrapServers(), mosquitto, instance);
      FleetplaneNode node = NodeFixture.startNode(config);
      try {
        NodeFixture.publish(mosquitto, "fleet/rae/RAE-M/device/" + session + "/update",
            "{\"ts\":42,\"attributes\":{\"esn\":\"MOSQ\"}}");
        var response = awaitResponse(node.httpPort(), "/api/v1/devices/" + session,
            r -> r.statusCode() == 200, Duration.ofSeconds(30));
        assertEquals("MOSQ", json(response).get("attributes").get("esn").asText());
        try (Connection connection = db.connect();
            ResultSet rows = connection.createStatement().executeQuery("SELECT version()")) {
          rows.next();
          assertTrue(rows.getString(1).startsWith("PostgreSQL"), rows.getString(1));
        }
      } finally {
        node.stop().toCompletableFuture().get();
      }
    } finally {
      TestPostgres.dropSchema(db);
    }
  }
}
