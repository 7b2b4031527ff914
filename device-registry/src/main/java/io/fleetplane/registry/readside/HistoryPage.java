package io.fleetplane.registry.readside;

import io.fleetplane.registry.DeviceSession;
import java.util.List;
import java.util.Optional;

/**
 * A page of one session's history, oldest first.
 *
 * @param items events with their journal sequence numbers
 * @param nextAfter the sequence number to continue after; empty on the last page
 */
public record HistoryPage(List<Entry> items, Optional<Long> nextAfter) {

  /** One journaled event of the session. */
  public record Entry(long sequenceNr, DeviceSession.MessageApplied event) {}
}
