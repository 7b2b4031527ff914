package io.fleetplane.registry.readside;

import java.time.Duration;
import java.time.Instant;
import java.util.Optional;

/**
 * How far the read side is behind the journal, read in the same snapshot as the rows it qualifies.
 *
 * @param asOf when the projection last stored its offset (empty before its first event)
 * @param projectedOrdering journal ordering the projection has applied up to (0 before any)
 * @param newestOrdering newest journal ordering carrying the projection's tag
 * @param lag age of the oldest event not yet projected; zero when caught up. Unlike "newest minus
 *     projected timestamp" it keeps growing while a stuck projection leaves events waiting.
 */
public record ReadSideStatus(Optional<Instant> asOf, long projectedOrdering, long newestOrdering, Duration lag) {

  /** Journal positions not yet applied (an upper bound: orderings of other tags count too). */
  public long lagEvents() {
    return Math.max(0, newestOrdering - projectedOrdering);
  }
}
