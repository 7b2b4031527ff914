package io.fleetplane.config;

/**
 * Kafka header names on the platform's topics. The bridge writes them and the registry and
 * dead-letter tooling read them, so they are a contract (docs/protocol.md), shared from here.
 */
public final class KafkaHeaders {
  /** The full MQTT topic the message arrived on (the key holds only the session prefix). */
  public static final String MQTT_TOPIC = "mqtt-topic";
  /** The QoS the message was delivered with, "0", "1" or "2". */
  public static final String MQTT_QOS = "mqtt-qos";
  /** When the bridge received the message, epoch milliseconds. */
  public static final String RECEIVED_AT = "received-at";
  /** W3C trace context of the message: the device's own when it sent a valid one, else new. */
  public static final String TRACEPARENT = "traceparent";
  /** Which bridge instance forwarded it (several share a subscription). */
  public static final String BRIDGE_INSTANCE = "bridge-instance";
  /** Dead letters only: the stable error code ({@code payload.not-json}, ...). */
  public static final String ERROR_CODE = "fleetplane-error";
  /** Dead letters only: a human-readable explanation. */
  public static final String ERROR_DETAIL = "fleetplane-error-detail";
  /** Dead letters only: which component rejected the record ({@code bridge}, {@code registry}). */
  public static final String REJECTED_BY = "fleetplane-rejected-by";

  /** Command and command-reply records: the command id (also in the value). */
  public static final String COMMAND_ID = "command-id";
  /** Dead letters of records consumed from Kafka: where the record came from, for replay. */
  public static final String SOURCE_TOPIC = "fleetplane-source-topic";
  public static final String SOURCE_PARTITION = "fleetplane-source-partition";
  public static final String SOURCE_OFFSET = "fleetplane-source-offset";

  private KafkaHeaders() {}
}
