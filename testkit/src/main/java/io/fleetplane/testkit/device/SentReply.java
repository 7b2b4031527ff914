package io.fleetplane.testkit.device;

/**
 * A reply a simulated device published (after the broker acknowledged it).
 *
 * @param commandId the command it answers
 * @param topic where it was published
 * @param status the status it carried
 * @param payload the JSON payload
 * @param sentAt epoch milliseconds
 */
public record SentReply(String commandId, String topic, String status, String payload, long sentAt) {}
