package io.fleetplane.registry.readside;

import com.fasterxml.jackson.databind.JsonNode;
import io.fleetplane.registry.domain.Liveness;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;

/**
 * One device session as the projection last wrote it.
 *
 * @param reportedConnection CONNECTED or DISCONNECTED as last reported; see {@link #liveness}
 * @param connectionAsOf when the reported connection was first heard
 * @param lastHeardAt receive time of the last message of any kind
 * @param lastUpdateAt when the session applied its last message
 * @param appliedMessages events projected into this row (equals the session's own count)
 * @param journalSequenceNr sequence number of the last projected event of this session
 * @param attributes by name, in name order
 */
public record DeviceRow(
    UUID deviceSessionId,
    String raeSerial,
    Optional<String> testState,
    Liveness.Connection reportedConnection,
    Instant connectionAsOf,
    Instant lastHeardAt,
    Instant lastUpdateAt,
    long appliedMessages,
    long journalSequenceNr,
    Map<String, Attribute> attributes) {

  /** An attribute's value as reported, and when (device clock, then registry receive time). */
  public record Attribute(JsonNode value, Instant reportedAt, Instant receivedAt) {}

  /** The same rule as a single read of the session, so lists and single reads agree. */
  public Liveness.Status liveness(Instant now, Duration unknownAfter) {
    return Liveness.effective(reportedConnection, connectionAsOf, lastHeardAt, now, unknownAfter);
  }
}
