package io.fleetplane.config.ids;

import io.fleetplane.config.ErrorCode;
import java.util.Optional;
import java.util.UUID;
import java.util.regex.Pattern;

/**
 * A device session id: a UUID in its canonical lower-case 36-character form. Devices choose it
 * when a session starts; it is the entity id of the session's actor and part of its MQTT topic.
 *
 * <p>Only the canonical form is accepted (not {@link UUID#fromString}'s lenient parsing, which
 * takes "1-1-1-1-1"), so that one session has exactly one spelling in topics, keys and URLs.
 */
public record DeviceSessionId(String value) {

  private static final Pattern CANONICAL =
      Pattern.compile("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}");

  public DeviceSessionId {
    if (value == null || !CANONICAL.matcher(value).matches()) {
      throw new InvalidIdException(
          ErrorCode.DEVICE_SESSION_ID_INVALID,
          "device session id must be a lower-case UUID such as "
              + "3f2b8c1e-9a4d-4e7b-8c2a-1d5e6f7a8b9c, got '" + printable(value) + "'");
    }
  }

  public static Optional<DeviceSessionId> parse(String value) {
    return value != null && CANONICAL.matcher(value).matches()
        ? Optional.of(new DeviceSessionId(value))
        : Optional.empty();
  }

  public static DeviceSessionId random() {
    return new DeviceSessionId(UUID.randomUUID().toString());
  }

  @Override
  public String toString() {
    return value;
  }

  static String printable(String value) {
    if (value == null) {
      return "null";
    }
    String cut = value.length() > 80 ? value.substring(0, 80) + "..." : value;
    return cut.replaceAll("\\p{Cntrl}", "?");
  }
}
