package io.fleetplane.bridge.command.domain;

import java.util.regex.Pattern;

/**
 * What a command name may look like: 1-64 of letters, digits, '.', '_' and '-', starting with a
 * letter or digit ({@code reboot}, {@code flash-firmware}, {@code diag.collect-logs}). The bridge
 * does not know which names a device understands; the device rejects unknown ones.
 */
final class CommandNames {

  private static final Pattern VALID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,63}");

  private CommandNames() {}

  static boolean isValid(String name) {
    return name != null && VALID.matcher(name).matches();
  }

  static String rule(String name) {
    return "'name' must be 1-64 of [A-Za-z0-9._-] starting with a letter or digit, got '"
        + Printable.of(name) + "'";
  }
}
