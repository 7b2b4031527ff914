package io.fleetplane.bridge.domain;

import java.util.Locale;
import java.util.Optional;
import java.util.random.RandomGenerator;

/**
 * A W3C Trace Context {@code traceparent} value ({@code 00-<trace-id>-<parent-id>-<flags>}). The
 * bridge passes a device's own trace context through unchanged, so a trace that started on the
 * device continues in the cloud; when the device sent none (or an invalid one), the bridge starts
 * a new trace so every record still carries one.
 *
 * <p>The bridge records no span of its own, so it does not replace the parent id: a downstream
 * span then points at the device's span, which a tracing backend can resolve, rather than at a
 * bridge span that was never reported.
 *
 * @param value the header value exactly as it travels, lower-case
 */
public record TraceParent(String value) {

  /** The MQTT 5 user property and the Kafka header that carry it (W3C name). */
  public static final String NAME = io.fleetplane.config.KafkaHeaders.TRACEPARENT;

  private static final int VERSION_00_LENGTH = 55;

  public TraceParent {
    if (!isValid(value)) {
      throw new IllegalArgumentException("not a W3C traceparent: '" + value + "'");
    }
  }

  /** The value if it is a valid W3C traceparent, else empty (the caller then generates one). */
  public static Optional<TraceParent> parse(String candidate) {
    return isValid(candidate) ? Optional.of(new TraceParent(candidate)) : Optional.empty();
  }

  /** A new root trace context, sampled ({@code -01}) so downstream tracers keep it. */
  public static TraceParent generate(RandomGenerator random) {
    String traceId;
    do {
      traceId = hex(random.nextLong()) + hex(random.nextLong());
    } while (traceId.equals("0".repeat(32)));
    String parentId;
    do {
      parentId = hex(random.nextLong());
    } while (parentId.equals("0".repeat(16)));
    return new TraceParent("00-" + traceId + "-" + parentId + "-01");
  }

  public String traceId() {
    return value.substring(3, 35);
  }

  /**
   * The rules of W3C Trace Context level 1: version {@code 00} has exactly 55 characters; later
   * versions (not {@code ff}) may append fields after a dash, which we keep untouched. Ids must be
   * lower-case hex and not all zeros.
   */
  static boolean isValid(String v) {
    if (v == null || v.length() < VERSION_00_LENGTH) {
      return false;
    }
    String version = v.substring(0, 2);
    if (!isLowerHex(version) || version.equals("ff")) {
      return false;
    }
    if (version.equals("00") && v.length() != VERSION_00_LENGTH) {
      return false;
    }
    if (v.length() > VERSION_00_LENGTH && v.charAt(VERSION_00_LENGTH) != '-') {
      return false;
    }
    if (v.charAt(2) != '-' || v.charAt(35) != '-' || v.charAt(52) != '-') {
      return false;
    }
    String traceId = v.substring(3, 35);
    String parentId = v.substring(36, 52);
    String flags = v.substring(53, 55);
    return isLowerHex(traceId) && !traceId.equals("0".repeat(32))
        && isLowerHex(parentId) && !parentId.equals("0".repeat(16))
        && isLowerHex(flags);
  }

  private static boolean isLowerHex(String s) {
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
        return false;
      }
    }
    return true;
  }

  private static String hex(long bits) {
    return String.format(Locale.ROOT, "%016x", bits);
  }

  @Override
  public String toString() {
    return value;
  }
}
