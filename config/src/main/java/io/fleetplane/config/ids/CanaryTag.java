package io.fleetplane.config.ids;

/**
 * How canary (synthetic load) sessions are told apart from real devices. Canary runs publish
 * under RAE serials that start with {@link #RAE_PREFIX}, a prefix reserved for them, and carry the
 * run id in the reserved attribute {@link #RUN_ATTRIBUTE}. The prefix is what fleet queries and
 * stats filter on (one indexed column, no attribute join); the attribute says which run a session
 * belongs to when someone looks at one.
 */
public final class CanaryTag {

  /** Reserved RAE-serial prefix of canary sessions; real RAEs must not use it (case-sensitive). */
  public static final String RAE_PREFIX = "canary-";
  /** Reserved attribute holding the id of the canary run that published the session. */
  public static final String RUN_ATTRIBUTE = "fleetplane.canary-run";

  private CanaryTag() {}

  public static boolean isCanary(String raeSerial) {
    return raeSerial != null && raeSerial.startsWith(RAE_PREFIX);
  }

  /** The RAE serial a canary run publishes under. */
  public static RaeSerial raeFor(String runId) {
    return new RaeSerial(RAE_PREFIX + runId);
  }
}
