package io.fleetplane.bridge;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fleetplane.config.FleetplaneConfig;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class BridgeSettingsTest {

  private static BridgeSettings load(Map<String, Object> overrides) {
    return BridgeSettings.fromConfig(FleetplaneConfig.load(overrides));
  }

  @Test
  void defaultsFromReferenceConf() {
    BridgeSettings s = load(Map.of("fleetplane.bridge.instance-id", "b7"));
    assertEquals("fleetplane-bridge-b7", s.mqtt().clientId());
    assertEquals(List.of("fleet/rae/+/device/+/update", "fleet/rae/+/device/+/checkpoint",
        "fleet/rae/+/device/+/connection"), s.mqtt().subscriptions());
    assertEquals(5000, s.maxInFlight());
    assertEquals(32L * 1024 * 1024, s.maxInFlightBytes());
    assertEquals(256 * 1024, s.maxPayloadBytes());
    assertEquals(512 * 1024, s.mqtt().maximumPacketSize());
    assertEquals(Duration.ofMinutes(2), s.producer().deliveryTimeout());
    assertEquals(Duration.ofSeconds(10), s.producer().maxBlock());
    assertEquals(new BridgeSettings.Http(true, "127.0.0.1", 8091), s.http());
    assertFalse(s.mqtt().toString().contains("password"));
  }

  @Test
  void sharedGroupPrefixesTheSubscriptions() {
    BridgeSettings s = load(Map.of("fleetplane.bridge.mqtt.shared-subscription-group", "g1"));
    assertEquals(Optional.of("g1"), s.mqtt().sharedSubscriptionGroup());
    assertTrue(s.mqtt().subscriptions().stream().allMatch(f -> f.startsWith("$share/g1/fleet/rae/")));
  }

  @Test
  void valuesThatCannotWorkAreRejectedNamingTheKey() {
    assertRejected(Map.of("fleetplane.bridge.max-in-flight", 70_000), "fleetplane.bridge.max-in-flight");
    assertRejected(Map.of("fleetplane.bridge.max-in-flight-bytes", 0), "fleetplane.bridge.max-in-flight-bytes");
    assertRejected(Map.of("fleetplane.bridge.max-payload-size", "2 MiB"), "fleetplane.bridge.max-payload-size");
    assertRejected(Map.of("fleetplane.bridge.mqtt.maximum-packet-size", "100 KiB"),
        "fleetplane.bridge.mqtt.maximum-packet-size");
    assertRejected(Map.of("fleetplane.bridge.mqtt.shared-subscription-group", "a/b"),
        "fleetplane.bridge.mqtt.shared-subscription-group");
    assertRejected(Map.of("fleetplane.bridge.mqtt.server-uri", "localhost:1883"),
        "fleetplane.bridge.mqtt.server-uri");
    assertRejected(Map.of("fleetplane.bridge.kafka-producer.delivery-timeout", "10s"),
        "fleetplane.bridge.kafka-producer.delivery-timeout");
    assertRejected(Map.of("fleetplane.bridge.mqtt.session-expiry", "0s"), "fleetplane.bridge.mqtt.session-expiry");
  }

  private static void assertRejected(Map<String, Object> overrides, String key) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> load(overrides));
    assertTrue(e.getMessage().startsWith(key), e.getMessage());
  }
}
