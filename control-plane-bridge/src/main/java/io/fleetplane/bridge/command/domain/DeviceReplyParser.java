package io.fleetplane.bridge.command.domain;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fleetplane.bridge.command.domain.WireJson.WireException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Optional;

/**
 * Reads one MQTT message from {@code .../command-reply} into a {@link DeviceReply}, or classifies
 * why it is unusable. Pure, so every rule is unit-tested.
 *
 * <p>Correlation: an MQTT 5 device echoes the command's correlation data (the command id as
 * UTF-8); an MQTT 3.1.1 device cannot, and puts {@code commandId} in the payload instead. When
 * both are present they must agree, so that a reader of either sees the same command.
 */
public final class DeviceReplyParser {

  /** Why a reply is unusable: a low-cardinality metric tag and a detail for the (rate-limited) log. */
  public enum Problem {
    TOPIC("topic"), TOO_LARGE("too-large"), NOT_JSON("not-json"), INVALID("invalid");

    private final String tag;

    Problem(String tag) {
      this.tag = tag;
    }

    public String tag() {
      return tag;
    }
  }

  /** The outcome of reading one reply. */
  public sealed interface Parsed {}

  public record Valid(DeviceReply reply) implements Parsed {}

  public record Malformed(Problem problem, String detail) implements Parsed {}

  private final int maxReplyBytes;

  public DeviceReplyParser(int maxReplyBytes) {
    this.maxReplyBytes = maxReplyBytes;
  }

  /**
   * @param correlationData the MQTT 5 correlation data, or null (MQTT 3.1.1, or a device that
   *     did not echo it)
   */
  public Parsed parse(String topic, byte[] payload, byte[] correlationData) {
    Optional<CommandTopics.Session> session = CommandTopics.parseReplyTopic(topic);
    if (session.isEmpty()) {
      return new Malformed(Problem.TOPIC, "'" + Printable.of(topic) + "' is not a reply topic "
          + "fleet/rae/{raeSerial}/device/{deviceSessionId}/command-reply");
    }
    if (payload.length > maxReplyBytes) {
      return new Malformed(Problem.TOO_LARGE, "reply of " + payload.length + " bytes exceeds "
          + maxReplyBytes + " (fleetplane.bridge.commands.max-reply-size)");
    }
    try {
      ObjectNode o = WireJson.object(payload);
      return new Valid(read(session.get(), o, correlationData));
    } catch (WireException e) {
      return new Malformed(e.notJson ? Problem.NOT_JSON : Problem.INVALID, "reply " + e.getMessage());
    }
  }

  private static DeviceReply read(CommandTopics.Session session, ObjectNode o, byte[] correlation) {
    WireJson.requireTypeAndVersion(o, DeviceReply.TYPE, DeviceReply.VERSION);
    CommandId commandId = commandId(o, correlation);
    String rawStatus = WireJson.requiredText(o, "status");
    CommandStatus status = CommandStatus.fromDevice(rawStatus).orElseThrow(() -> new WireException(
        false, "'status' must be succeeded, failed or rejected, got '" + Printable.of(rawStatus) + "'"));
    JsonNode result = o.get("result");
    Optional<ReplyError> error = error(o.get("error"));
    Long ts = WireJson.optionalLong(o, "ts");
    return new DeviceReply(session, commandId, status,
        result == null || result.isNull() ? null : result, error, Optional.ofNullable(ts));
  }

  private static CommandId commandId(ObjectNode o, byte[] correlation) {
    String fromPayload = WireJson.optionalText(o, "commandId");
    String fromProperty = correlation == null ? null : utf8(correlation);
    if (fromPayload == null && fromProperty == null) {
      throw new WireException(false, "has no command id: MQTT 5 devices echo the correlation data,"
          + " MQTT 3.1.1 devices put 'commandId' in the payload");
    }
    if (fromPayload != null && fromProperty != null && !fromPayload.equals(fromProperty)) {
      throw new WireException(false, "'commandId' '" + Printable.of(fromPayload)
          + "' differs from the correlation data '" + Printable.of(fromProperty) + "'");
    }
    String raw = fromProperty != null ? fromProperty : fromPayload;
    return CommandId.parse(raw).orElseThrow(() -> new WireException(false,
        "command id '" + Printable.of(raw) + "' is not a valid command id"));
  }

  private static Optional<ReplyError> error(JsonNode node) {
    if (node == null || node.isNull()) {
      return Optional.empty();
    }
    if (!(node instanceof ObjectNode e)) {
      throw new WireException(false, "'error' must be an object {\"code\":..., \"message\":...}");
    }
    String code = WireJson.requiredText(e, "code");
    if (code.isEmpty() || code.length() > ReplyError.MAX_CODE_LENGTH) {
      throw new WireException(false, "'error.code' must be 1-" + ReplyError.MAX_CODE_LENGTH
          + " characters");
    }
    return Optional.of(new ReplyError(code, WireJson.optionalText(e, "message")));
  }

  private static String utf8(byte[] bytes) {
    try {
      return StandardCharsets.UTF_8.newDecoder()
          .onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT)
          .decode(ByteBuffer.wrap(bytes)).toString();
    } catch (CharacterCodingException e) {
      throw new WireException(false, "correlation data is not UTF-8 text (expected the command id)");
    }
  }
}
