package io.fleetplane.bridge.command.domain;

/** Cuts and sanitizes untrusted text before it reaches a log line, a header or an error message. */
final class Printable {

  private static final int MAX = 80;

  private Printable() {}

  static String of(String value) {
    if (value == null) {
      return "null";
    }
    String cut = value.length() > MAX ? value.substring(0, MAX) + "..." : value;
    return cut.replaceAll("\\p{Cntrl}", "?");
  }
}
