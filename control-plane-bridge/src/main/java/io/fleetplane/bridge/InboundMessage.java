package io.fleetplane.bridge;

/**
 * One MQTT message as the bridge received it, carried through the stream until Kafka acknowledged
 * it; {@code messageId} and {@code qos} are what the broker needs for the acknowledgement.
 */
record InboundMessage(String topic, byte[] payload, int qos, int messageId, long receivedAtMillis) {}
