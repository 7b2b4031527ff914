package io.fleetplane.registry.readside;

import java.time.Instant;
import java.util.List;

/**
 * Session counts of a filter, grouped three ways, all from one snapshot.
 *
 * @param total sessions matching the filter
 * @param byTestState counts per test state (value null: no state reported yet)
 * @param byRaeSerial counts per RAE
 * @param byConnection counts per computed liveness (CONNECTED, DISCONNECTED, UNKNOWN)
 * @param queriedAt the instant liveness was computed for
 * @param status how current the counts are
 */
public record DeviceStats(
    long total,
    List<Count> byTestState,
    List<Count> byRaeSerial,
    List<Count> byConnection,
    Instant queriedAt,
    ReadSideStatus status) {

  /** Sessions with one value of a grouping; largest counts first, then by value. */
  public record Count(String value, long count) {}
}
