package io.fleetplane.http;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.databind.JsonNode;
import io.fleetplane.jobs.workflow.RejectedRequestException;
import io.fleetplane.registry.domain.Liveness;
import io.fleetplane.registry.readside.DeviceFilter;
import java.math.BigDecimal;
import java.time.Instant;
import java.util.Iterator;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * A device-state predicate: "of the sessions in {@code scope}, {@code quantifier} match {@code
 * match}", for example {@code {"scope": {}, "match": {"testState": "available"}, "quantifier":
 * "fraction", "threshold": 0.95}} ("95% of devices are available") or {@code {"scope":
 * {"raeSerial": "RAE-7"}, "match": {"attributes": {"fw": "2.1.0"}}, "quantifier": "all"}} ("every
 * session of RAE-7 reports firmware 2.1.0").
 *
 * <p>A small declarative form rather than CEL: it compiles to two counts over the read side's
 * indexed columns (the same filters as {@code GET /api/v1/devices}), so an evaluation costs two
 * SQL counts whatever the fleet size, and nothing a client sends becomes SQL text. Canary sessions
 * are outside every population, as in device lists and stats, unless the scope names a canary RAE.
 *
 * <p>{@code minDevices} (default 1): a population smaller than this never satisfies the predicate,
 * so "all of no devices" is not a crossing.
 */
record DevicePredicate(Filter scope, Filter match, String quantifier, BigDecimal threshold, int minDevices) {

  static final String INVALID = "predicate.invalid";
  static final String NOT_FOUND = "predicate.not-found";
  static final String ID_INVALID = "predicate.id-invalid";
  static final String NAME_TAKEN = "predicate.name-taken";
  static final String FLEET_TOKEN_REQUIRED = "predicate.fleet-token-required";

  static final String ALL = "all";
  static final String FRACTION = "fraction";

  static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._:-]{0,127}");
  static final Pattern ID = Pattern.compile("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}");

  private static final Set<String> BODY_FIELDS = Set.of("name", "signal", "scope", "match", "quantifier", "threshold",
      "minDevices");
  private static final Set<String> FILTER_FIELDS = Set.of("raeSerial", "testState", "connection", "attributes");

  /** Rejected input: 400 with {@link #code()} and {@link #field()}. */
  static final class InvalidPredicateException extends RejectedRequestException {
    InvalidPredicateException(String field, String message) {
      super(INVALID, field, message);
    }
  }

  /**
   * Conditions on read-side columns, all of which must hold; null parts are absent.
   *
   * @param attributes attribute name -> text form (a JSON string unquoted, numbers and booleans as
   *     JSON), compared for equality as {@code ?attr.NAME=} does
   */
  @JsonInclude(JsonInclude.Include.NON_NULL)
  record Filter(String raeSerial, String testState, Liveness.Connection connection, Map<String, String> attributes) {
    static final Filter NONE = new Filter(null, null, null, null);

    boolean none() {
      return raeSerial == null && testState == null && connection == null && (attributes == null || attributes.isEmpty());
    }
  }

  /** A registration: who it is, what signal it emits, and the predicate. */
  record Registration(String name, String signal, DevicePredicate predicate) {}

  /** Validates a {@code POST /signals/predicates} body; every failure names its field. */
  static Registration parse(JsonNode body) {
    if (body == null || !body.isObject()) {
      throw new InvalidPredicateException(null, "the body is a JSON object");
    }
    for (Iterator<String> names = body.fieldNames(); names.hasNext(); ) {
      String n = names.next();
      if (!BODY_FIELDS.contains(n)) {
        throw new InvalidPredicateException(n, "unknown field " + n + "; known: " + new java.util.TreeSet<>(BODY_FIELDS));
      }
    }
    String name = name(body.get("name"), "name", "the predicate's name");
    String signal = name(body.get("signal"), "signal", "the name of the signal it emits");
    Filter scope = filter(body.get("scope"), "scope");
    Filter match = filter(body.get("match"), "match");
    if (match.none()) {
      throw new InvalidPredicateException("match", "match needs at least one condition (testState, connection,"
          + " raeSerial or attributes): without one every session matches");
    }
    conflict(scope.raeSerial(), match.raeSerial(), "raeSerial");
    conflict(scope.testState(), match.testState(), "testState");
    conflict(scope.connection(), match.connection(), "connection");
    if (scope.attributes() != null && match.attributes() != null) {
      match.attributes().forEach((k, v) -> conflict(scope.attributes().get(k), v, "attributes." + k));
    }
    JsonNode q = body.get("quantifier");
    if (q == null || !q.isTextual() || !(q.textValue().equals(ALL) || q.textValue().equals(FRACTION))) {
      throw new InvalidPredicateException("quantifier", "quantifier is \"all\" or \"fraction\" (with a threshold)");
    }
    JsonNode t = body.get("threshold");
    BigDecimal threshold = null;
    if (q.textValue().equals(FRACTION)) {
      if (t == null || !t.isNumber() || t.decimalValue().signum() <= 0 || t.decimalValue().compareTo(BigDecimal.ONE) > 0) {
        throw new InvalidPredicateException("threshold", "threshold is a number in (0, 1]: the fraction of the"
            + " scope's sessions that must match, e.g. 0.95");
      }
      threshold = t.decimalValue().stripTrailingZeros();
    } else if (t != null) {
      throw new InvalidPredicateException("threshold", "threshold goes with quantifier \"fraction\" only");
    }
    JsonNode m = body.get("minDevices");
    int minDevices = 1;
    if (m != null) {
      if (!m.isIntegralNumber() || !m.canConvertToInt() || m.intValue() < 1) {
        throw new InvalidPredicateException("minDevices", "minDevices is an integer >= 1: a smaller population"
            + " never satisfies the predicate");
      }
      minDevices = m.intValue();
    }
    return new Registration(name, signal, new DevicePredicate(scope, match, q.textValue(), threshold, minDevices));
  }

  private static String name(JsonNode node, String field, String what) {
    if (node == null || !node.isTextual() || !NAME.matcher(node.textValue()).matches()) {
      throw new InvalidPredicateException(field, field + " is " + what + ": 1-128 letters, digits and . _ : -,"
          + " starting with a letter or digit");
    }
    return node.textValue();
  }

  private static void conflict(Object inScope, Object inMatch, String field) {
    if (inScope != null && inMatch != null && !inScope.equals(inMatch)) {
      throw new InvalidPredicateException("match." + field, "match." + field + " contradicts scope." + field
          + ": no session of the scope could match");
    }
  }

  private static Filter filter(JsonNode node, String field) {
    if (node == null || node.isNull()) {
      return Filter.NONE;
    }
    if (!node.isObject()) {
      throw new InvalidPredicateException(field, field + " is an object with raeSerial, testState, connection,"
          + " attributes");
    }
    for (Iterator<String> names = node.fieldNames(); names.hasNext(); ) {
      String n = names.next();
      if (!FILTER_FIELDS.contains(n)) {
        throw new InvalidPredicateException(field + "." + n, "unknown field " + n + "; known: "
            + new java.util.TreeSet<>(FILTER_FIELDS));
      }
    }
    String rae = text(node.get("raeSerial"), field + ".raeSerial", 64);
    String state = text(node.get("testState"), field + ".testState", 64);
    Liveness.Connection connection = null;
    JsonNode c = node.get("connection");
    if (c != null) {
      try {
        connection = Liveness.Connection.valueOf(c.isTextual() ? c.textValue() : "");
      } catch (IllegalArgumentException e) {
        throw new InvalidPredicateException(field + ".connection", "connection is CONNECTED, DISCONNECTED or UNKNOWN");
      }
    }
    Map<String, String> attributes = null;
    JsonNode a = node.get("attributes");
    if (a != null) {
      if (!a.isObject() || a.size() > DeviceFilter.MAX_ATTRIBUTE_FILTERS) {
        throw new InvalidPredicateException(field + ".attributes", "attributes is an object of at most "
            + DeviceFilter.MAX_ATTRIBUTE_FILTERS + " name -> string, number or boolean");
      }
      attributes = new TreeMap<>();
      for (var it = a.fields(); it.hasNext(); ) {
        var e = it.next();
        String at = field + ".attributes." + e.getKey();
        if (e.getKey().isEmpty() || e.getKey().length() > DeviceFilter.MAX_ATTRIBUTE_NAME_LENGTH
            || e.getKey().chars().anyMatch(Character::isISOControl)) {
          throw new InvalidPredicateException(at, "attribute names are 1-" + DeviceFilter.MAX_ATTRIBUTE_NAME_LENGTH
              + " printable characters");
        }
        JsonNode v = e.getValue();
        if (!(v.isTextual() || v.isNumber() || v.isBoolean())) {
          throw new InvalidPredicateException(at, "an attribute condition is a string, number or boolean");
        }
        // The read side's text form: a string unquoted, anything else as compact JSON.
        attributes.put(e.getKey(), v.isTextual() ? v.textValue() : v.toString());
      }
    }
    return new Filter(rae, state, connection, attributes);
  }

  private static String text(JsonNode node, String field, int max) {
    if (node == null) {
      return null;
    }
    if (!node.isTextual() || node.textValue().isEmpty() || node.textValue().length() > max
        || node.textValue().chars().anyMatch(Character::isISOControl)) {
      throw new InvalidPredicateException(field, field + " is a string of 1-" + max + " printable characters");
    }
    return node.textValue();
  }

  /** The sessions the predicate speaks about (canaries excluded, as in device lists). */
  DeviceFilter population() {
    return toFilter(scope, Filter.NONE);
  }

  /** Those of them that match. */
  DeviceFilter matching() {
    return toFilter(scope, match);
  }

  private static DeviceFilter toFilter(Filter a, Filter b) {
    TreeMap<String, String> attributes = new TreeMap<>();
    if (a.attributes() != null) {
      attributes.putAll(a.attributes());
    }
    if (b.attributes() != null) {
      attributes.putAll(b.attributes());
    }
    return DeviceFilter.of(Optional.ofNullable(a.raeSerial() != null ? a.raeSerial() : b.raeSerial()),
        Optional.ofNullable(a.testState() != null ? a.testState() : b.testState()),
        Optional.ofNullable(a.connection() != null ? a.connection() : b.connection()), attributes);
  }

  /** Whether {@code matching} of {@code total} sessions satisfy the quantifier; exact decimal arithmetic. */
  boolean holds(long total, long matching) {
    if (total < minDevices) {
      return false;
    }
    if (ALL.equals(quantifier)) {
      return matching == total;
    }
    return BigDecimal.valueOf(matching).compareTo(threshold.multiply(BigDecimal.valueOf(total))) >= 0;
  }

  /** The id of the signal of crossing {@code generation}: the same on every evaluation and node. */
  static String signalId(String predicateId, int generation) {
    return "predicate:" + predicateId + ":" + generation;
  }

  /** A registered predicate and what its evaluator last saw. */
  record Stored(String predicateId, String name, String signal, DevicePredicate predicate, Instant createdAt,
      boolean satisfied, int generation, String pendingSignal, Long lastTotal, Long lastMatching,
      Instant lastEvaluatedAt, Instant lastCrossedAt) {}
}
