package io.fleetplane.bridge;

import java.util.Optional;

/**
 * One MQTT message as the bridge received it, carried through the stream until Kafka acknowledged
 * it. {@code messageId}, {@code qos} and {@code connection} are what the acknowledgement needs:
 * an acknowledgement is only valid on the connection the message arrived on.
 *
 * @param deviceTraceparent the MQTT 5 user property {@code traceparent}, if the device sent one
 * @param connection the MQTT connection it arrived on (null in tests that build records only)
 */
record InboundMessage(
    String topic,
    byte[] payload,
    int qos,
    int messageId,
    long receivedAtMillis,
    Optional<String> deviceTraceparent,
    MqttInbound.Connection connection) {}
