package io.fleetplane.bridge.command.domain;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fleetplane.config.ids.DeviceSessionId;
import io.fleetplane.config.ids.DeviceTopic;
import io.fleetplane.config.ids.RaeSerial;
import java.util.Objects;

/**
 * One command for one device session, as issued on Kafka {@code fleet.device-commands}
 * (docs/protocol.md section 8, "Kafka command record"). Validated: every instance is publishable.
 *
 * @param commandId correlates the reply; the issuer chooses it and must not reuse it
 * @param name what to do, e.g. {@code reboot}; the device decides what names it knows
 * @param params the command's arguments, a JSON object (empty when there are none); never mutated
 * @param timeoutMs how long the issuer waits for the device, counted from {@code ts}
 * @param ts when the command was issued, epoch milliseconds
 */
public record DeviceCommand(
    CommandId commandId,
    RaeSerial raeSerial,
    DeviceSessionId deviceSessionId,
    String name,
    ObjectNode params,
    long timeoutMs,
    long ts) {

  public static final String TYPE = "device-command";
  public static final int VERSION = 1;

  public DeviceCommand {
    Objects.requireNonNull(commandId, "commandId");
    Objects.requireNonNull(raeSerial, "raeSerial");
    Objects.requireNonNull(deviceSessionId, "deviceSessionId");
    if (!CommandNames.isValid(name)) {
      throw new IllegalArgumentException(CommandNames.rule(name));
    }
    params = params == null ? WireJson.MAPPER.createObjectNode() : params.deepCopy();
    if (timeoutMs <= 0) {
      throw new IllegalArgumentException("timeoutMs must be positive, was " + timeoutMs);
    }
  }

  /** The Kafka record key: the session prefix shared with every other record of the session. */
  public String sessionKey() {
    return DeviceTopic.sessionKey(raeSerial, deviceSessionId);
  }

  public String commandTopic() {
    return CommandTopics.commandTopic(raeSerial, deviceSessionId);
  }

  public String replyTopic() {
    return CommandTopics.replyTopic(raeSerial, deviceSessionId);
  }

  /**
   * When the issuer stops waiting. Counted from {@code ts}, so a command that waited in Kafka
   * while no bridge ran expires instead of surprising a device minutes later; a {@code ts} in
   * the future (clock skew) counts from {@code receivedAt} instead, so it cannot stretch the
   * timeout.
   */
  public long deadline(long receivedAt) {
    return Math.min(ts, receivedAt) + timeoutMs;
  }

  /** The Kafka record value (what an issuer such as the HTTP API produces). */
  public byte[] toRecordJson() {
    ObjectNode o = WireJson.MAPPER.createObjectNode();
    o.put("type", TYPE);
    o.put("version", VERSION);
    o.put("commandId", commandId.value());
    o.put("raeSerial", raeSerial.value());
    o.put("deviceSessionId", deviceSessionId.value());
    o.put("name", name);
    o.set("params", params.deepCopy());
    o.put("timeoutMs", timeoutMs);
    o.put("ts", ts);
    return WireJson.bytes(o);
  }
}
