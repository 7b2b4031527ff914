package io.fleetplane.bridge.command;

/**
 * Kafka header names the command bridge adds to those of {@code io.fleetplane.config.KafkaHeaders}.
 * They are a contract (docs/protocol-commands.md); they belong in {@code KafkaHeaders} once the
 * config module takes them.
 */
public final class CommandHeaders {

  /** On command and reply records: the command id (also in the value). */
  public static final String COMMAND_ID = "command-id";
  /** On dead letters of command records: where the record came from, for replay. */
  public static final String SOURCE_TOPIC = "fleetplane-source-topic";
  public static final String SOURCE_PARTITION = "fleetplane-source-partition";
  public static final String SOURCE_OFFSET = "fleetplane-source-offset";
  /** The {@code fleetplane-rejected-by} value of this component's dead letters. */
  public static final String REJECTED_BY_COMMAND_BRIDGE = "command-bridge";

  private CommandHeaders() {}
}
