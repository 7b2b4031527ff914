package io.fleetplane.bridge.command.domain;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fleetplane.bridge.command.domain.WireJson.WireException;
import io.fleetplane.config.ErrorCode;
import io.fleetplane.config.ids.DeviceSessionId;
import io.fleetplane.config.ids.RaeSerial;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Optional;

/**
 * Reads one record of {@code fleet.device-commands} into a {@link DeviceCommand}, or says exactly
 * why it cannot (the reason goes into the dead letter's {@code fleetplane-error} header). Pure: no
 * I/O, no clock, so every rule is unit-tested.
 *
 * <p>Unknown fields are ignored (a newer issuer may add optional ones without a version bump);
 * a different {@code version} is refused, because its meaning may have changed.
 */
public final class CommandRecordParser {

  private final int maxRecordBytes;
  private final long defaultTimeoutMs;
  private final long maxTimeoutMs;

  /**
   * @param maxRecordBytes larger records are dead-lettered as {@code payload.too-large}
   * @param defaultTimeout used when the record has no {@code timeoutMs}
   * @param maxTimeout the largest {@code timeoutMs} accepted; it bounds how long a pending
   *     command holds a slot
   */
  public CommandRecordParser(int maxRecordBytes, Duration defaultTimeout, Duration maxTimeout) {
    if (defaultTimeout.compareTo(maxTimeout) > 0) {
      throw new IllegalArgumentException("the default command timeout " + defaultTimeout
          + " exceeds the maximum " + maxTimeout + ": raise max-timeout or lower default-timeout");
    }
    this.maxRecordBytes = maxRecordBytes;
    this.defaultTimeoutMs = defaultTimeout.toMillis();
    this.maxTimeoutMs = maxTimeout.toMillis();
  }

  /** The outcome of reading one record. */
  public sealed interface Parsed {}

  /** A command ready to publish. */
  public record Valid(DeviceCommand command) implements Parsed {}

  /**
   * A record that can never become a command: dead-letter it.
   *
   * @param commandId the record's command id when it had a readable one (for logs)
   */
  public record Invalid(ErrorCode reason, String detail, Optional<CommandId> commandId)
      implements Parsed {}

  /**
   * @param key the Kafka record key; must be the command's session key
   * @param value the record value
   * @param commandIdHeader the {@code command-id} header if present; must match the value's id
   */
  public Parsed parse(String key, byte[] value, String commandIdHeader) {
    if (value == null || value.length == 0) {
      return new Invalid(ErrorCode.PAYLOAD_INVALID,
          "empty record value: a command record must be a device-command JSON object",
          Optional.empty());
    }
    if (value.length > maxRecordBytes) {
      return new Invalid(ErrorCode.PAYLOAD_TOO_LARGE, "command record of " + value.length
          + " bytes exceeds the limit of " + maxRecordBytes + " (fleetplane.bridge.commands."
          + "max-command-size)", Optional.empty());
    }
    ObjectNode o;
    try {
      o = WireJson.object(value);
    } catch (WireException e) {
      return new Invalid(ErrorCode.PAYLOAD_NOT_JSON, "command record " + e.getMessage(),
          Optional.empty());
    }
    Optional<CommandId> id = readableId(o);
    try {
      return new Valid(read(o, key, commandIdHeader));
    } catch (WireException e) {
      return new Invalid(ErrorCode.PAYLOAD_INVALID, "command record: " + e.getMessage(), id);
    } catch (RejectedId e) {
      return new Invalid(e.reason, "command record: " + e.getMessage(), id);
    }
  }

  private DeviceCommand read(ObjectNode o, String key, String commandIdHeader) {
    WireJson.requireTypeAndVersion(o, DeviceCommand.TYPE, DeviceCommand.VERSION);
    String rawId = WireJson.requiredText(o, "commandId");
    CommandId commandId = CommandId.parse(rawId).orElseThrow(() -> new WireException(false,
        "'commandId' must be 1-128 of [A-Za-z0-9._:-] starting with a letter or digit, got '"
            + Printable.of(rawId) + "'"));
    String rawRae = WireJson.requiredText(o, "raeSerial");
    RaeSerial rae = RaeSerial.parse(rawRae).orElseThrow(() -> new RejectedId(
        ErrorCode.RAE_SERIAL_INVALID, "'raeSerial' must be 1-64 of [A-Za-z0-9._-], got '"
            + Printable.of(rawRae) + "'"));
    String rawSession = WireJson.requiredText(o, "deviceSessionId");
    DeviceSessionId session = DeviceSessionId.parse(rawSession).orElseThrow(() -> new RejectedId(
        ErrorCode.DEVICE_SESSION_ID_INVALID, "'deviceSessionId' must be a lower-case UUID, got '"
            + Printable.of(rawSession) + "'"));
    String name = WireJson.requiredText(o, "name");
    if (!CommandNames.isValid(name)) {
      throw new WireException(false, CommandNames.rule(name));
    }
    JsonNode params = o.get("params");
    if (params != null && !params.isNull() && !params.isObject()) {
      throw new WireException(false, "'params' must be a JSON object, got " + params.getNodeType());
    }
    Long timeout = WireJson.optionalLong(o, "timeoutMs");
    long timeoutMs = timeout == null ? defaultTimeoutMs : timeout;
    if (timeoutMs < 1 || timeoutMs > maxTimeoutMs) {
      throw new WireException(false, "'timeoutMs' must be 1.." + maxTimeoutMs + ", got "
          + timeoutMs + " (the maximum is fleetplane.bridge.commands.max-timeout)");
    }
    long ts = WireJson.requiredLong(o, "ts");
    if (ts <= 0) {
      throw new WireException(false, "'ts' must be epoch milliseconds (> 0), got " + ts);
    }
    DeviceCommand command = new DeviceCommand(commandId, rae, session, name,
        params instanceof ObjectNode object ? object : null, timeoutMs, ts);
    if (!command.sessionKey().equals(key)) {
      // The key decides the partition, so a wrong key would break per-session ordering silently.
      throw new WireException(false, "record key must be the session key '" + command.sessionKey()
          + "' (per-session ordering), got '" + Printable.of(key) + "'");
    }
    if (commandIdHeader != null && !commandIdHeader.equals(commandId.value())) {
      throw new WireException(false, "'command-id' header '" + Printable.of(commandIdHeader)
          + "' differs from 'commandId' '" + commandId + "'");
    }
    return command;
  }

  private static Optional<CommandId> readableId(ObjectNode o) {
    JsonNode id = o.get("commandId");
    return id != null && id.isTextual() ? CommandId.parse(id.asText()) : Optional.empty();
  }

  /** Decodes a header value; headers are UTF-8 text by the platform's convention. */
  public static String headerText(byte[] value) {
    return value == null ? null : new String(value, StandardCharsets.UTF_8);
  }

  /** An id field with its own stable error code. */
  private static final class RejectedId extends RuntimeException {
    final ErrorCode reason;

    RejectedId(ErrorCode reason, String message) {
      super(message, null, false, false);
      this.reason = reason;
    }
  }
}
