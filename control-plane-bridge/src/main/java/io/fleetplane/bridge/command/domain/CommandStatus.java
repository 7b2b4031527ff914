package io.fleetplane.bridge.command.domain;

import java.util.Optional;

/**
 * How a command ended, as reported on {@code fleet.device-command-replies}. Every command gets
 * exactly one final status from a running bridge (see {@code CommandBridge} for restarts).
 */
public enum CommandStatus {
  /** The device did it; {@code result} holds what it reported. */
  SUCCEEDED("succeeded", true),
  /** The device tried and failed; {@code error} says why. */
  FAILED("failed", true),
  /**
   * Not attempted: the device refused it (unknown name, bad params, busy), or the bridge did
   * (too many pending commands, the broker refused the publish).
   */
  REJECTED("rejected", true),
  /**
   * No reply by the deadline, so the outcome is unknown: the device may still have done it. Only
   * the bridge reports this; a device never sends it.
   */
  TIMED_OUT("timed-out", false);

  private final String wire;
  private final boolean deviceMaySend;

  CommandStatus(String wire, boolean deviceMaySend) {
    this.wire = wire;
    this.deviceMaySend = deviceMaySend;
  }

  /** The JSON value: {@code succeeded}, {@code failed}, {@code rejected}, {@code timed-out}. */
  public String wire() {
    return wire;
  }

  /** A status a device may put in its reply ({@code timed-out} is the bridge's alone). */
  public static Optional<CommandStatus> fromDevice(String wire) {
    for (CommandStatus status : values()) {
      if (status.deviceMaySend && status.wire.equals(wire)) {
        return Optional.of(status);
      }
    }
    return Optional.empty();
  }

  public static Optional<CommandStatus> fromWire(String wire) {
    for (CommandStatus status : values()) {
      if (status.wire.equals(wire)) {
        return Optional.of(status);
      }
    }
    return Optional.empty();
  }

  @Override
  public String toString() {
    return wire;
  }
}
