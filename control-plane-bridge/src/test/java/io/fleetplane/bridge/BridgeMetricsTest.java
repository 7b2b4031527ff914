package io.fleetplane.bridge;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

class BridgeMetricsTest {

  @Test
  void prometheusTextHasCountersGaugesAndTheLatencySummary() {
    BridgeMetrics metrics = new BridgeMetrics();
    BridgeMetrics.count("fleetplane_bridge_test_counter", Map.of("reason", "payload.not-json"), 3);
    metrics.gauge("fleetplane_bridge_test_gauge", Map.of("direction", "device-to-cloud"), () -> 7);
    BridgeMetrics.recordProduceLatency(Duration.ofMillis(5));

    String text = metrics.prometheusText();

    assertTrue(text.contains("# TYPE fleetplane_bridge_test_counter_total counter\n"
        + "fleetplane_bridge_test_counter_total{reason=\"payload.not-json\"} 3\n"), text);
    assertTrue(text.contains("# TYPE fleetplane_bridge_test_gauge gauge\n"
        + "fleetplane_bridge_test_gauge{direction=\"device-to-cloud\"} 7\n"), text);
    assertTrue(text.contains("fleetplane_bridge_kafka_produce_latency_seconds_count{direction=\"device-to-cloud\"}"), text);
    assertTrue(text.contains("fleetplane_bridge_jvm_heap_used_bytes "), text);
    for (String line : text.split("\n")) {
      assertTrue(line.startsWith("# TYPE ") || line.matches("[a-z_]+(\\{[^}]*\\})? [0-9.]+"), line);
    }
  }
}
