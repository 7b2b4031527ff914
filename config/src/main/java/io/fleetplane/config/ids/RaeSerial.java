package io.fleetplane.config.ids;

import io.fleetplane.config.ErrorCode;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * The serial of a RAE (the test rig devices are attached to). It scopes what a user or a device
 * may see, and it is a level of every device MQTT topic, so it must never contain MQTT wildcards
 * or separators: letters, digits, '-', '_' and '.', 1 to 64 characters.
 */
public record RaeSerial(String value) {

  private static final Pattern VALID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,63}");

  public RaeSerial {
    if (value == null || !VALID.matcher(value).matches()) {
      throw new InvalidIdException(
          ErrorCode.RAE_SERIAL_INVALID,
          "RAE serial must be 1-64 of [A-Za-z0-9._-] starting with a letter or digit, got '"
              + DeviceSessionId.printable(value) + "'");
    }
  }

  public static Optional<RaeSerial> parse(String value) {
    return value != null && VALID.matcher(value).matches()
        ? Optional.of(new RaeSerial(value))
        : Optional.empty();
  }

  @Override
  public String toString() {
    return value;
  }
}
