package io.fleetplane.bridge.command.domain;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.Objects;
import java.util.Optional;

/**
 * A device's answer to a command as read from MQTT, before it is matched with a pending command.
 *
 * @param session the session of the topic it arrived on (what the broker's ACL vouches for)
 * @param status {@code succeeded}, {@code failed} or {@code rejected}
 * @param result what the device reported, any JSON; null when it sent none
 * @param error why it failed or rejected, when the device said so
 * @param deviceTs the device's own timestamp, epoch milliseconds, when it sent one
 */
public record DeviceReply(
    CommandTopics.Session session,
    CommandId commandId,
    CommandStatus status,
    JsonNode result,
    Optional<ReplyError> error,
    Optional<Long> deviceTs) {

  public static final String TYPE = "command-reply";
  public static final int VERSION = 1;

  public DeviceReply {
    Objects.requireNonNull(session, "session");
    Objects.requireNonNull(commandId, "commandId");
    Objects.requireNonNull(status, "status");
    result = result == null ? null : result.deepCopy();
    error = error == null ? Optional.empty() : error;
    deviceTs = deviceTs == null ? Optional.empty() : deviceTs;
  }
}
