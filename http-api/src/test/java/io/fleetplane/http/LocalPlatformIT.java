package io.fleetplane.http;

import static io.fleetplane.http.NodeFixture.awaitResponse;
import static io.fleetplane.http.NodeFixture.json;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fleetplane.testkit.infra.FreePorts;
import io.fleetplane.testkit.infra.PortInUseException;
import java.net.ServerSocket;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * {@code ./fleetplane local} as a user runs it: embedded PostgreSQL, Kafka and MQTT broker plus
 * the node, in one process; stopped and started again on the same data directory, it still has
 * the device it had.
 */
class LocalPlatformIT {

  @Test
  void theWholePlatformRunsEmbeddedAndKeepsItsDataAcrossRestarts() throws Exception {
    Path dataDir = Files.createTempDirectory("fp-local-it-");
    String session = UUID.randomUUID().toString();
    LocalPlatform.Options options = new LocalPlatform.Options(
        dataDir, 0, FreePorts.next(), FreePorts.next(), Optional.empty(), 0, true);

    try (LocalPlatform platform = LocalPlatform.start(options)) {
      NodeFixture.publish(platform.mqttUri(), "fleet/rae/RAE-L/device/" + session + "/update",
          "{\"ts\":3,\"attributes\":{\"esn\":\"LOCAL\"}}");
      var response = awaitResponse(platform.node().httpPort(), "/api/v1/devices/" + session,
          r -> r.statusCode() == 200, Duration.ofSeconds(30));
      assertEquals("LOCAL", json(response).get("attributes").get("esn").asText());
    }
    assertTrue(Files.exists(dataDir.resolve("postgres").resolve("PG_VERSION")), "PostgreSQL data is under the data dir");
    assertTrue(Files.isDirectory(dataDir.resolve("kafka")), "Kafka logs are under the data dir");

    try (LocalPlatform again = LocalPlatform.start(options)) {
      var response = awaitResponse(again.node().httpPort(), "/api/v1/devices/" + session,
          r -> r.statusCode() == 200, Duration.ofSeconds(30));
      assertEquals("LOCAL", json(response).get("attributes").get("esn").asText(), "state survived the restart");
    }
  }

  @Test
  void aTakenMqttPortFailsWithWhatToDoAndStartsNothing() throws Exception {
    try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
      LocalPlatform.Options options = new LocalPlatform.Options(Files.createTempDirectory("fp-local-it-"),
          0, FreePorts.next(), taken.getLocalPort(), Optional.empty(), 0, false);
      PortInUseException e = assertThrows(PortInUseException.class, () -> LocalPlatform.start(options));
      assertTrue(e.getMessage().contains("--mqtt-uri tcp://127.0.0.1:" + taken.getLocalPort()), e.getMessage());
      assertTrue(e.getMessage().contains("--mqtt-port"), e.getMessage());
      assertTrue(FreePorts.isFree(options.kafkaPort()), "Kafka was not started");
    }
  }
}
