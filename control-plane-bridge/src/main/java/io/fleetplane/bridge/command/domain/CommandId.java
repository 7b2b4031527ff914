package io.fleetplane.bridge.command.domain;

import java.util.Optional;
import java.util.regex.Pattern;

/**
 * The id of one command, chosen by whoever issues it (a UUID is the usual choice). It correlates
 * the command with its reply across Kafka and MQTT: the Kafka {@code command-id} header, the MQTT
 * 5 correlation data and the {@code commandId} JSON field all carry it.
 *
 * <p>It appears in logs, headers and MQTT properties, so it is restricted to a printable,
 * separator-free alphabet: letters, digits, '.', '_', ':' and '-', 1 to 128 characters.
 */
public record CommandId(String value) {

  private static final Pattern VALID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._:-]{0,127}");

  public CommandId {
    if (value == null || !VALID.matcher(value).matches()) {
      throw new IllegalArgumentException("command id must be 1-128 of [A-Za-z0-9._:-] starting with"
          + " a letter or digit (a UUID is fine), got '" + Printable.of(value) + "'");
    }
  }

  public static Optional<CommandId> parse(String value) {
    return value != null && VALID.matcher(value).matches()
        ? Optional.of(new CommandId(value)) : Optional.empty();
  }

  @Override
  public String toString() {
    return value;
  }
}
