package io.fleetplane.registry.readside;

import io.fleetplane.registry.domain.Liveness;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.SortedMap;
import java.util.SortedSet;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Which device sessions a list or stats query covers; every present part must hold (AND).
 * Values are bound as SQL parameters, never spliced into SQL text.
 *
 * @param raeSerial only sessions of this RAE
 * @param testState only sessions whose last reported test state is this
 * @param connection only sessions whose liveness, computed now with the registry's rule, is this
 * @param attributes attribute name -> text form that must be equal (a JSON string compares
 *     unquoted, any other value as compact JSON, e.g. {@code 42} or {@code true})
 * @param raeSerialIn only sessions of one of these RAEs (the caller's RAEs, set by the API, not
 *     by the client); an empty set matches nothing
 * @param includeCanary also cover canary sessions (RAE serials starting with
 *     {@link io.fleetplane.config.ids.CanaryTag#RAE_PREFIX}); off by default, so synthetic load
 *     never shows up in what operators count
 */
public record DeviceFilter(
    Optional<String> raeSerial,
    Optional<String> testState,
    Optional<Liveness.Connection> connection,
    SortedMap<String, String> attributes,
    Optional<SortedSet<String>> raeSerialIn,
    boolean includeCanary) {

  /** Attribute names are 1-128 characters in the payload contract, and so in the table. */
  public static final int MAX_ATTRIBUTE_NAME_LENGTH = 128;
  /** More conditions than this is not a query a person writes; it bounds the SQL's size. */
  public static final int MAX_ATTRIBUTE_FILTERS = 16;

  public static final DeviceFilter ALL =
      new DeviceFilter(Optional.empty(), Optional.empty(), Optional.empty(), new TreeMap<>(), Optional.empty(), false);

  public DeviceFilter {
    attributes = java.util.Collections.unmodifiableSortedMap(new TreeMap<>(attributes));
    raeSerialIn = raeSerialIn.map(raes -> java.util.Collections.unmodifiableSortedSet(new TreeSet<>(raes)));
  }

  public DeviceFilter(Optional<String> raeSerial, Optional<String> testState, Optional<Liveness.Connection> connection,
      SortedMap<String, String> attributes) {
    this(raeSerial, testState, connection, attributes, Optional.empty(), false);
  }

  /** This filter, further restricted to sessions of these RAEs. */
  public DeviceFilter withinRaes(Set<String> raes) {
    return new DeviceFilter(raeSerial, testState, connection, attributes, Optional.of(new TreeSet<>(raes)), includeCanary);
  }

  public static DeviceFilter of(Optional<String> raeSerial, Optional<String> testState,
      Optional<Liveness.Connection> connection, Map<String, String> attributes) {
    return new DeviceFilter(raeSerial, testState, connection, new TreeMap<>(attributes), Optional.empty(), false);
  }

  /** The same filter, with canary sessions included or not. */
  public DeviceFilter withCanary(boolean include) {
    return new DeviceFilter(raeSerial, testState, connection, attributes, raeSerialIn, include);
  }

  /**
   * A short digest of the filter, recorded in cursors so that a cursor is only ever continued
   * with the query that issued it (another filter would silently skip or repeat rows).
   */
  public String fingerprint() {
    StringBuilder canonical = new StringBuilder();
    raeSerial.ifPresent(v -> canonical.append("rae=").append(v.length()).append(':').append(v));
    testState.ifPresent(v -> canonical.append("|state=").append(v.length()).append(':').append(v));
    connection.ifPresent(v -> canonical.append("|conn=").append(v));
    attributes.forEach((name, value) -> canonical.append("|attr=").append(name.length()).append(':').append(name)
        .append(value.length()).append(':').append(value));
    raeSerialIn.ifPresent(raes -> raes.forEach(v -> canonical.append("|in=").append(v.length()).append(':').append(v)));
    if (includeCanary) {
      canonical.append("|canary");
    }
    try {
      byte[] digest = MessageDigest.getInstance("SHA-256").digest(canonical.toString().getBytes(StandardCharsets.UTF_8));
      return HexFormat.of().formatHex(digest, 0, 8);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every JVM has SHA-256", e);
    }
  }
}
