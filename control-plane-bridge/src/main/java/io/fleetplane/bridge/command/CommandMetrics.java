package io.fleetplane.bridge.command;

/**
 * Metric names of the command bridge (Prometheus style, through {@code Metrics}). Tags are
 * low-cardinality reasons and statuses, never ids.
 */
public final class CommandMetrics {

  /** Command records consumed from Kafka, valid or not. */
  public static final String COMMANDS_IN = "fleetplane_bridge_commands_in";
  /** Commands the broker acknowledged (PUBACK with a success code). */
  public static final String PUBLISHED = "fleetplane_bridge_commands_published";
  /** Command records dead-lettered; tag {@code reason} = the error code. */
  public static final String DEAD_LETTERS = "fleetplane_bridge_commands_dead_letters";
  /** Commands answered {@code rejected} by the bridge; tag {@code reason} = the error code. */
  public static final String REJECTED = "fleetplane_bridge_commands_rejected";
  /**
   * Commands answered {@code timed-out}; tag {@code stage}: {@code awaiting-reply},
   * {@code before-delivery} (expired in Kafka) or {@code bridge-stopped}.
   */
  public static final String TIMED_OUT = "fleetplane_bridge_commands_timed_out";
  /** Command records skipped because the id was pending or settled already (Kafka redelivery). */
  public static final String DUPLICATES = "fleetplane_bridge_commands_duplicates";
  /** Device replies forwarded to Kafka; tag {@code status}. */
  public static final String REPLIES = "fleetplane_bridge_command_replies";
  /** Device replies that came after the command had timed out (dropped). */
  public static final String LATE_REPLIES = "fleetplane_bridge_command_replies_late";
  /**
   * Device replies dropped for another reason; tag {@code reason}: {@code malformed},
   * {@code unknown}, {@code duplicate} or {@code wrong-session}.
   */
  public static final String DROPPED_REPLIES = "fleetplane_bridge_command_replies_dropped";
  /** Gauge: commands published and awaiting their reply. */
  public static final String PENDING = "fleetplane_bridge_commands_pending";
  /** Timer: from publish to the device's reply. */
  public static final String ROUND_TRIP = "fleetplane_bridge_command_round_trip";
  /** Failures of the command stream (each followed by a restart with backoff). */
  public static final String STREAM_FAILURES = "fleetplane_bridge_command_stream_failures";
  /** Reply records that Kafka refused and that are being retried. */
  public static final String REPLY_RETRIES = "fleetplane_bridge_command_reply_retries";

  private CommandMetrics() {}
}
