package io.fleetplane.bridge.command;

/**
 * Header values specific to the command bridge; the header names themselves are shared in
 * {@code io.fleetplane.config.KafkaHeaders} (docs/protocol.md section 8).
 */
public final class CommandHeaders {

  /** The {@code fleetplane-rejected-by} value of this component's dead letters. */
  public static final String REJECTED_BY_COMMAND_BRIDGE = "command-bridge";

  private CommandHeaders() {}
}
