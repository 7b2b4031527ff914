package io.fleetplane.registry.domain;

import java.time.Duration;
import java.time.Instant;

/**
 * Whether a device is there: what it last said about its connection, corrected by silence.
 *
 * <p>Computed when read, from the last time anything was heard, instead of by a timer in each
 * session: idle sessions passivate (a stopped actor's timer never fires), and a timer would have
 * to persist an event just to say that nothing happened. The read side applies the same rule in
 * its queries, so a list filtered by connection agrees with a single read.
 */
public final class Liveness {

  /** The liveness a reader sees, and since when it holds. */
  public record Status(Connection connection, Instant asOf) {}

  /** What the platform knows about the device's link. */
  public enum Connection { CONNECTED, DISCONNECTED, UNKNOWN }

  private Liveness() {}

  /**
   * @param reported the connection as last reported (DISCONNECTED only when the device or its
   *     last will said so; any update or checkpoint reports CONNECTED)
   * @param reportedAsOf when that was heard
   * @param lastHeard when anything was last heard from the device
   */
  public static Status effective(Connection reported, Instant reportedAsOf, Instant lastHeard, Instant now,
      Duration unknownAfter) {
    if (reported == Connection.DISCONNECTED) {
      return new Status(Connection.DISCONNECTED, reportedAsOf);
    }
    Instant silentSince = lastHeard.plus(unknownAfter);
    if (!now.isBefore(silentSince)) {
      return new Status(Connection.UNKNOWN, silentSince);
    }
    return new Status(reported, reportedAsOf);
  }
}
