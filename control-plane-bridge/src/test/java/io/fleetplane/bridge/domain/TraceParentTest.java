package io.fleetplane.bridge.domain;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Optional;
import java.util.SplittableRandom;
import java.util.random.RandomGenerator;
import org.junit.jupiter.api.Test;

class TraceParentTest {

  private static final String VALID = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

  @Test
  void aValidDeviceTraceparentIsKeptUnchanged() {
    assertEquals(Optional.of(new TraceParent(VALID)), TraceParent.parse(VALID));
    assertEquals("4bf92f3577b34da6a3ce929d0e0e4736", new TraceParent(VALID).traceId());
  }

  @Test
  void laterVersionsMayCarryMoreFields() {
    assertTrue(TraceParent.parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra").isPresent());
  }

  @Test
  void invalidValuesAreRejected() {
    for (String bad : new String[] {
        null, "", "garbage",
        VALID.toUpperCase(),                                          // ids must be lower-case
        "ff" + VALID.substring(2),                                    // version ff is forbidden
        VALID + "-x",                                                 // version 00 is exactly 55 chars
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",    // all-zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",    // all-zero parent id
        "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}) {
      assertEquals(Optional.empty(), TraceParent.parse(bad), String.valueOf(bad));
    }
  }

  @Test
  void generatedContextsAreValidSampledAndDistinct() {
    RandomGenerator random = new SplittableRandom(42);
    TraceParent a = TraceParent.generate(random);
    TraceParent b = TraceParent.generate(random);
    assertTrue(TraceParent.isValid(a.value()), a.value());
    assertTrue(a.value().startsWith("00-") && a.value().endsWith("-01"), a.value());
    assertNotEquals(a.traceId(), b.traceId());
  }
}
