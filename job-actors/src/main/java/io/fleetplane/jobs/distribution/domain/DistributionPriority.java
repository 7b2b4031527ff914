package io.fleetplane.jobs.distribution.domain;

import io.fleetplane.config.ErrorCode;
import io.fleetplane.config.InvalidInputException;
import java.util.Arrays;
import java.util.Locale;

/**
 * How much of the shared work pool a job's items get while other jobs wait too. Levels share the
 * pool by weighted round-robin ({@link FairQueue}): of every 7 items taken while all three levels
 * have work, 4 are high, 2 normal, 1 low; a level with no work gives its turns to the others. So
 * a high job goes first without starving a low one (low still gets 1 item in 7), and jobs of the
 * same level share their level's turns round-robin as before.
 */
public enum DistributionPriority {
  HIGH("high", 4), NORMAL("normal", 2), LOW("low", 1);

  private final String wire;
  private final int weight;

  DistributionPriority(String wire, int weight) {
    this.wire = wire;
    this.weight = weight;
  }

  public String wire() {
    return wire;
  }

  /** Turns per round of the weighted round-robin. */
  public int weight() {
    return weight;
  }

  /** The request's value; null means {@link #NORMAL}. */
  public static DistributionPriority parse(String value) {
    if (value == null) {
      return NORMAL;
    }
    for (DistributionPriority p : values()) {
      if (p.wire.equals(value.toLowerCase(Locale.ROOT))) {
        return p;
      }
    }
    throw new InvalidInputException(ErrorCode.DISTRIBUTION_PRIORITY_INVALID, "priority must be one of "
        + Arrays.stream(values()).map(DistributionPriority::wire).toList() + ", was \"" + value + "\".");
  }
}
