package io.fleetplane.config.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

class MetricsTest {

  @Test
  void aCounterIsOneInstrumentWhateverClassItsTagMapIs() {
    String name = "fleetplane_test_cached_" + System.nanoTime();
    Map<String, String> mutable = new HashMap<>(Map.of("reason", "a", "topic", "t"));
    Metrics.increment(name, Map.of("reason", "a", "topic", "t"));
    Metrics.increment(name, 2, mutable);
    Metrics.increment(name, new TreeMap<>(Map.of("topic", "t", "reason", "a")));
    assertEquals(4, Metrics.count(name, Map.of("topic", "t", "reason", "a")));

    // A caller changing its map afterwards does not move counts between tag sets.
    mutable.put("reason", "b");
    Metrics.increment(name, mutable);
    assertEquals(4, Metrics.count(name, Map.of("topic", "t", "reason", "a")));
    assertEquals(1, Metrics.count(name, Map.of("topic", "t", "reason", "b")));
    assertEquals(0, Metrics.count(name));
  }

  @Test
  void untaggedAndTaggedCountersAreSeparate() {
    String name = "fleetplane_test_untagged_" + System.nanoTime();
    Metrics.increment(name);
    Metrics.increment(name);
    Metrics.increment(name, Map.of("k", "v"));
    assertEquals(2, Metrics.count(name));
    assertEquals(1, Metrics.count(name, Map.of("k", "v")));
    assertEquals(0, Metrics.count("fleetplane_test_never_" + System.nanoTime()));
  }
}
