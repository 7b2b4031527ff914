package io.fleetplane.http.commands;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Instant;
import java.util.Optional;

/**
 * One command as the node keeps it in {@code device_command}: what was sent, and its outcome once
 * known. {@code status} is {@code pending} until a reply (or the node's own deadline) settles it.
 *
 * @param reply the outcome, absent while pending
 */
public record StoredCommand(
    String commandId,
    String deviceSessionId,
    String raeSerial,
    String name,
    ObjectNode params,
    long timeoutMs,
    Optional<String> requestId,
    String issuedBy,
    String status,
    Instant createdAt,
    Instant deadline,
    Optional<Outcome> reply) {

  public static final String PENDING = "pending";

  /**
   * How a command ended.
   *
   * @param source {@code device}, {@code bridge}, or {@code node} (no reply at all by the node's
   *     deadline)
   */
  public record Outcome(String status, JsonNode result, Optional<String> errorCode,
      Optional<String> errorMessage, String source, Instant completedAt, Optional<Long> deviceTs) {}

  public boolean pending() {
    return PENDING.equals(status);
  }
}
