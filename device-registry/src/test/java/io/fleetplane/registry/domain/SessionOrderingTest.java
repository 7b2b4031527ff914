package io.fleetplane.registry.domain;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fleetplane.config.ids.DeviceTopic.Channel;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class SessionOrderingTest {

  private static DeviceMessage message(long ts, Long seq) {
    return new DeviceMessage(Channel.UPDATE, ts, Optional.ofNullable(seq), Map.of(), Optional.empty(), Optional.empty());
  }

  private static Lineage at(int partition, long offset) {
    return new Lineage("t", partition, offset, 0);
  }

  private static SessionOrdering.Position last(long ts, Long seq, long offset) {
    return new SessionOrdering.Position(ts, Optional.ofNullable(seq), at(0, offset));
  }

  @Test
  void olderTimestampsAreStaleNewerAreNot() {
    assertTrue(SessionOrdering.isStale(last(100, null, 5), message(99, null), at(0, 6)));
    assertFalse(SessionOrdering.isStale(last(100, null, 5), message(101, null), at(0, 6)));
  }

  @Test
  void equalTimestampsAreOrderedByKafkaOffset() {
    assertTrue(SessionOrdering.isStale(last(100, null, 5), message(100, null), at(0, 5)), "redelivery");
    assertTrue(SessionOrdering.isStale(last(100, null, 5), message(100, null), at(0, 4)));
    assertFalse(SessionOrdering.isStale(last(100, null, 5), message(100, null), at(0, 6)));
  }

  @Test
  void sequenceNumbersWinOverClocks() {
    assertFalse(SessionOrdering.isStale(last(100, 7L, 5), message(50, 8L), at(0, 6)), "clock went back, seq advanced");
    assertTrue(SessionOrdering.isStale(last(100, 7L, 5), message(200, 7L), at(0, 6)), "same seq is a duplicate");
  }
}
