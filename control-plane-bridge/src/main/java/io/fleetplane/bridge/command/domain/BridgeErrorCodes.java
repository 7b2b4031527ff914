package io.fleetplane.bridge.command.domain;

/**
 * The error codes the bridge itself puts into command replies. Stable and dotted like
 * {@code io.fleetplane.config.ErrorCode}: callers branch on them, so never rename one.
 */
public final class BridgeErrorCodes {

  /** {@code timed-out}: the device did not reply by the deadline; it may still have acted. */
  public static final String TIMED_OUT = "command.timed-out";
  /** {@code timed-out}: the deadline had passed before the bridge could deliver the command. */
  public static final String EXPIRED = "command.expired";
  /**
   * {@code timed-out}: the bridge stopped (gracefully) while the command was pending; whether the
   * device acted is unknown.
   */
  public static final String BRIDGE_STOPPED = "command.bridge-stopped";
  /** {@code rejected}: too many commands pending on this bridge; retry later. */
  public static final String TOO_MANY_PENDING = "command.too-many-pending";
  /** {@code rejected}: the MQTT broker refused the publish (usually the bridge's ACL). */
  public static final String BROKER_REFUSED = "command.broker-refused";

  private BridgeErrorCodes() {}
}
