package io.fleetplane.testkit.device;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * A command as a simulated device received it, with what it needs to answer.
 *
 * @param topic the topic it arrived on
 * @param commandId from the MQTT 5 correlation data, else the payload's {@code commandId}
 * @param name the command's name
 * @param params the command's params (an empty object when none)
 * @param replyTo the MQTT 5 response topic, else the payload's {@code replyTo}
 * @param correlationData the MQTT 5 correlation data to echo, or null (MQTT 3.1.1)
 * @param deadline epoch milliseconds after which nobody waits for the reply (0 when absent)
 * @param payload the raw JSON payload
 * @param receivedAt epoch milliseconds
 */
public record ReceivedCommand(
    String topic,
    String commandId,
    String name,
    JsonNode params,
    String replyTo,
    byte[] correlationData,
    long deadline,
    String payload,
    long receivedAt) {}
