package io.fleetplane.registry.domain;

import io.fleetplane.config.CborSerializable;

/**
 * Where an applied message came from, recorded with every event so that "why is this value here"
 * has an answer: the MQTT topic, the Kafka position and when the bridge received it.
 */
public record Lineage(String mqttTopic, int kafkaPartition, long kafkaOffset, long receivedAtMillis)
    implements CborSerializable {}
