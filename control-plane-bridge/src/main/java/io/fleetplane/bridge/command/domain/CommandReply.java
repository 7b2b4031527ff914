package io.fleetplane.bridge.command.domain;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fleetplane.config.ids.DeviceSessionId;
import io.fleetplane.config.ids.DeviceTopic;
import io.fleetplane.config.ids.RaeSerial;
import java.util.Locale;
import java.util.Objects;
import java.util.Optional;

/**
 * The final word on one command, as produced to Kafka {@code fleet.device-command-replies}
 * (docs/protocol.md section 8, "Kafka reply record"): the device's answer, or the bridge's own
 * {@code timed-out} / {@code rejected}. Keyed like the command, by its session.
 *
 * @param name the command's name, so readers need not join with the command topic
 * @param result the device's result (null when none, and always for bridge replies)
 * @param source who decided the status
 * @param ts when the bridge produced the reply, epoch milliseconds
 * @param deviceTs the device's timestamp, when it sent one
 */
public record CommandReply(
    CommandId commandId,
    RaeSerial raeSerial,
    DeviceSessionId deviceSessionId,
    String name,
    CommandStatus status,
    JsonNode result,
    Optional<ReplyError> error,
    Source source,
    long ts,
    Optional<Long> deviceTs) {

  public static final String TYPE = "device-command-reply";
  public static final int VERSION = 1;

  /** Who decided the status. */
  public enum Source {
    DEVICE, BRIDGE;

    public String wire() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  public CommandReply {
    Objects.requireNonNull(commandId, "commandId");
    Objects.requireNonNull(raeSerial, "raeSerial");
    Objects.requireNonNull(deviceSessionId, "deviceSessionId");
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(status, "status");
    Objects.requireNonNull(source, "source");
    result = result == null ? null : result.deepCopy();
    error = error == null ? Optional.empty() : error;
    deviceTs = deviceTs == null ? Optional.empty() : deviceTs;
  }

  /** The device answered in time. */
  public static CommandReply fromDevice(DeviceCommand command, DeviceReply reply, long now) {
    return new CommandReply(command.commandId(), command.raeSerial(), command.deviceSessionId(),
        command.name(), reply.status(), reply.result(), reply.error(), Source.DEVICE, now,
        reply.deviceTs());
  }

  /** The bridge decided: {@code timed-out} or {@code rejected}, with one of its error codes. */
  public static CommandReply fromBridge(DeviceCommand command, CommandStatus status, String code,
      String message, long now) {
    return new CommandReply(command.commandId(), command.raeSerial(), command.deviceSessionId(),
        command.name(), status, null, Optional.of(new ReplyError(code, message)), Source.BRIDGE,
        now, Optional.empty());
  }

  public String sessionKey() {
    return DeviceTopic.sessionKey(raeSerial, deviceSessionId);
  }

  public byte[] toJson() {
    ObjectNode o = WireJson.MAPPER.createObjectNode();
    o.put("type", TYPE);
    o.put("version", VERSION);
    o.put("commandId", commandId.value());
    o.put("raeSerial", raeSerial.value());
    o.put("deviceSessionId", deviceSessionId.value());
    o.put("name", name);
    o.put("status", status.wire());
    o.set("result", result == null ? WireJson.MAPPER.nullNode() : result.deepCopy());
    o.set("error", error.map(ReplyError::toJson).<JsonNode>map(e -> e)
        .orElse(WireJson.MAPPER.nullNode()));
    o.put("source", source.wire());
    o.put("ts", ts);
    deviceTs.ifPresent(t -> o.put("deviceTs", t));
    return WireJson.bytes(o);
  }

  /**
   * Reads a reply record (for consumers of the replies topic, and tests).
   *
   * @throws IllegalArgumentException when the bytes are not a version 1 reply record
   */
  public static CommandReply parse(byte[] json) {
    try {
      ObjectNode o = WireJson.object(json);
      WireJson.requireTypeAndVersion(o, TYPE, VERSION);
      String status = WireJson.requiredText(o, "status");
      JsonNode error = o.get("error");
      JsonNode result = o.get("result");
      Long deviceTs = WireJson.optionalLong(o, "deviceTs");
      return new CommandReply(
          new CommandId(WireJson.requiredText(o, "commandId")),
          new RaeSerial(WireJson.requiredText(o, "raeSerial")),
          new DeviceSessionId(WireJson.requiredText(o, "deviceSessionId")),
          WireJson.requiredText(o, "name"),
          CommandStatus.fromWire(status).orElseThrow(() ->
              new IllegalArgumentException("unknown status '" + Printable.of(status) + "'")),
          result == null || result.isNull() ? null : result,
          error instanceof ObjectNode e
              ? Optional.of(new ReplyError(WireJson.requiredText(e, "code"),
                  WireJson.optionalText(e, "message")))
              : Optional.empty(),
          "bridge".equals(WireJson.requiredText(o, "source")) ? Source.BRIDGE : Source.DEVICE,
          WireJson.requiredLong(o, "ts"),
          Optional.ofNullable(deviceTs));
    } catch (WireJson.WireException e) {
      throw new IllegalArgumentException("not a " + TYPE + " record: " + e.getMessage(), e);
    }
  }
}
