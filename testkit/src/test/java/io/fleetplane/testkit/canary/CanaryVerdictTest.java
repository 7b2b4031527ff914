package io.fleetplane.testkit.canary;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The pieces of the verdict that need no broker: reading /metrics and saying where messages stopped. */
class CanaryVerdictTest {

  private static final String SCRAPE = """
      # TYPE fleetplane_bridge_messages_forwarded_total counter
      fleetplane_bridge_messages_forwarded_total{channel="update",direction="device-to-cloud"} 120.0
      fleetplane_bridge_messages_forwarded_total{channel="connection",direction="device-to-cloud"} 30.0
      fleetplane_bridge_messages_forwarded_total{channel="reply",direction="cloud-to-device"} 7.0
      # TYPE fleetplane_registry_consumer_lag_sum gauge
      fleetplane_registry_consumer_lag_sum 42.0
      fleetplane_registry_consumer_lag_sum_other 1.0
      """;

  @Test
  void sumsEverySeriesOfAMetricThatCarriesTheLabels() {
    assertEquals(157.0, PrometheusText.sum(SCRAPE, "fleetplane_bridge_messages_forwarded").getAsDouble());
    assertEquals(150.0, PrometheusText.sum(SCRAPE, "fleetplane_bridge_messages_forwarded",
        Map.of("direction", "device-to-cloud")).getAsDouble());
    assertEquals(42.0, PrometheusText.sum(SCRAPE, "fleetplane_registry_consumer_lag_sum").getAsDouble(),
        "a longer name with the same prefix is another metric");
    assertTrue(PrometheusText.sum(SCRAPE, "fleetplane_registry_records_processed").isEmpty(),
        "absent differs from zero");
  }

  @Test
  void theDiagnosisNamesTheLastStageThatSawEveryMessage() {
    assertNull(CanaryCoordinator.diagnosis(stages(100L, 100L, 100L, 100L)), "nothing stopped");
    String registry = CanaryCoordinator.diagnosis(stages(100L, 100L, 0L, 0L));
    assertTrue(registry.contains("after 'forwarded to Kafka by the bridge'") && registry.contains("only 0 processed"),
        registry);
    // A bridge in another process counts nothing here; the registry did see everything.
    String http = CanaryCoordinator.diagnosis(stages(100L, 0L, 100L, 60L));
    assertTrue(http.contains("after 'processed by the registry'") && http.contains("only 60 visible"), http);
  }

  private static List<CanaryResult.Stage> stages(Long acked, Long bridge, Long registry, Long visible) {
    return List.of(new CanaryResult.Stage("acknowledged by the MQTT broker", acked),
        new CanaryResult.Stage("forwarded to Kafka by the bridge", bridge),
        new CanaryResult.Stage("processed by the registry", registry),
        new CanaryResult.Stage("visible over HTTP", visible));
  }
}
