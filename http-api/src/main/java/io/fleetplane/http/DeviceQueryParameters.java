package io.fleetplane.http;

import akka.http.javadsl.model.StatusCodes;
import io.fleetplane.config.ErrorCode;
import io.fleetplane.config.ids.RaeSerial;
import io.fleetplane.registry.domain.Liveness;
import io.fleetplane.registry.readside.DeviceCursor;
import io.fleetplane.registry.readside.DeviceFilter;
import io.fleetplane.registry.readside.DeviceHistory;
import io.fleetplane.registry.readside.DeviceQuery;
import io.fleetplane.registry.readside.DeviceSort;
import io.fleetplane.registry.readside.DeviceSortKey;
import io.fleetplane.registry.readside.InvalidQueryException;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Supplier;
import java.util.function.UnaryOperator;

/**
 * Turns the query string of the device list, stats and history into read-side queries, or into a
 * 400 problem naming the parameter at fault. Strict on purpose: an unknown or repeated parameter
 * is an error, not ignored, because a silently dropped filter returns a plausible wrong answer.
 */
final class DeviceQueryParameters {

  static final String RAE_SERIAL = "raeSerial";
  static final String STATE = "state";
  static final String CONNECTION = "connection";
  static final String ESN = "esn";
  static final String SORT = "sort";
  static final String LIMIT = "limit";
  static final String CURSOR = DeviceCursor.FIELD;
  static final String ATTRIBUTE_PREFIX = "attr.";
  /** Opt-in to canary sessions, which fleet lists and stats leave out by default. */
  static final String INCLUDE_CANARY = "includeCanary";

  private static final Set<String> FILTERS = Set.of(RAE_SERIAL, STATE, CONNECTION, ESN, INCLUDE_CANARY);
  private static final Set<String> PAGING = Set.of(SORT, LIMIT, CURSOR);
  /** The esn filter is shorthand for the attribute of that name. */
  private static final String ESN_ATTRIBUTE = "esn";
  private static final int MAX_STATE_LENGTH = 64;
  private static final int MAX_VALUE_LENGTH = 1024;

  private DeviceQueryParameters() {}

  /** {@code GET /api/v1/devices}: filters, sort, limit, cursor. */
  static DeviceQuery list(List<Map.Entry<String, String>> parameters) {
    return list(parameters, UnaryOperator.identity());
  }

  /** The same, with the client's filter narrowed by {@code scope} (the caller's RAEs) before the cursor is checked. */
  static DeviceQuery list(List<Map.Entry<String, String>> parameters, UnaryOperator<DeviceFilter> scope) {
    return translated(() -> {
      Map<String, String> params = unique(parameters, true);
      DeviceFilter filter = scope.apply(filter(params));
      DeviceSort sort = Optional.ofNullable(params.get(SORT))
          .map(text -> DeviceSort.parse(text).orElseThrow(() -> invalid(SORT, "Unknown sort '" + printable(text)
              + "'. Sort by one of: " + DeviceSortKey.accepted() + " ('-' for descending).")))
          .orElse(DeviceSort.DEFAULT);
      int limit = limit(params.get(LIMIT), DeviceQuery.DEFAULT_LIMIT);
      Optional<DeviceCursor> cursor = Optional.ofNullable(params.get(CURSOR)).map(DeviceCursor::decode);
      return new DeviceQuery(filter, sort, limit, cursor);
    });
  }

  /** {@code GET /api/v1/devices/stats}: the list's filters, no paging. */
  static DeviceFilter stats(List<Map.Entry<String, String>> parameters) {
    return translated(() -> filter(unique(parameters, false)));
  }

  /** {@code GET /api/v1/devices/{id}/history}: limit and cursor only. */
  record HistoryParameters(long after, int limit) {}

  static HistoryParameters history(List<Map.Entry<String, String>> parameters) {
    return translated(() -> {
      Map<String, String> params = new HashMap<>();
      for (Map.Entry<String, String> p : parameters) {
        if (!p.getKey().equals(LIMIT) && !p.getKey().equals(CURSOR)) {
          throw invalid(printable(p.getKey()), "Unknown query parameter '" + printable(p.getKey())
              + "'. A history accepts only limit and cursor.");
        }
        if (params.put(p.getKey(), p.getValue()) != null) {
          throw repeated(p.getKey());
        }
      }
      long after = Optional.ofNullable(params.get(CURSOR)).map(DeviceHistory::decodeCursor).orElse(0L);
      return new HistoryParameters(after, limit(params.get(LIMIT), DeviceQuery.DEFAULT_LIMIT));
    });
  }

  private static Map<String, String> unique(List<Map.Entry<String, String>> parameters, boolean paging) {
    Map<String, String> params = new HashMap<>();
    for (Map.Entry<String, String> p : parameters) {
      String name = p.getKey();
      boolean known = FILTERS.contains(name) || name.startsWith(ATTRIBUTE_PREFIX) || (paging && PAGING.contains(name));
      if (!known) {
        throw invalid(printable(name), "Unknown query parameter '" + printable(name) + "'. Filters: raeSerial, state, connection "
            + "(CONNECTED, DISCONNECTED, UNKNOWN), esn, attr.<name>=<value>, includeCanary=true"
            + (paging ? "; paging: sort, limit, cursor." : ". Stats take no sort, limit or cursor."));
      }
      if (params.put(name, p.getValue()) != null) {
        throw repeated(name);
      }
    }
    return params;
  }

  private static DeviceFilter filter(Map<String, String> params) {
    Optional<String> rae = Optional.ofNullable(params.get(RAE_SERIAL)).map(value -> {
      if (RaeSerial.parse(value).isEmpty()) {
        throw new InvalidQueryException(ErrorCode.RAE_SERIAL_INVALID, RAE_SERIAL, "RAE serials are 1-64 of "
            + "[A-Za-z0-9._-] starting with a letter or digit, got '" + printable(value) + "'.");
      }
      return value;
    });
    Optional<String> state = Optional.ofNullable(params.get(STATE)).map(value -> {
      if (value.isEmpty() || value.length() > MAX_STATE_LENGTH) {
        throw invalid(STATE, "state must be a test state of 1-" + MAX_STATE_LENGTH + " characters, e.g. in-test.");
      }
      return value;
    });
    Optional<Liveness.Connection> connection = Optional.ofNullable(params.get(CONNECTION)).map(value ->
        Arrays.stream(Liveness.Connection.values()).filter(c -> c.name().equals(value)).findFirst()
            .orElseThrow(() -> invalid(CONNECTION, "connection must be CONNECTED, DISCONNECTED or UNKNOWN, got '"
                + printable(value) + "'.")));
    Map<String, String> attributes = new TreeMap<>();
    Optional.ofNullable(params.get(ESN)).ifPresent(value -> attributes.put(ESN_ATTRIBUTE, attributeValue(ESN, value)));
    for (Map.Entry<String, String> p : new TreeMap<>(params).entrySet()) {
      if (!p.getKey().startsWith(ATTRIBUTE_PREFIX)) {
        continue;
      }
      String name = p.getKey().substring(ATTRIBUTE_PREFIX.length());
      if (name.isEmpty() || name.length() > DeviceFilter.MAX_ATTRIBUTE_NAME_LENGTH || name.chars().anyMatch(Character::isISOControl)) {
        throw invalid(printable(p.getKey()), "Attribute filters are attr.<name>=<value> with a name of 1-"
            + DeviceFilter.MAX_ATTRIBUTE_NAME_LENGTH + " printable characters.");
      }
      if (attributes.put(name, attributeValue(printable(p.getKey()), p.getValue())) != null) {
        throw invalid(p.getKey(), "esn and attr.esn filter the same attribute; give one of them.");
      }
    }
    if (attributes.size() > DeviceFilter.MAX_ATTRIBUTE_FILTERS) {
      throw invalid(ATTRIBUTE_PREFIX, "At most " + DeviceFilter.MAX_ATTRIBUTE_FILTERS + " attribute filters.");
    }
    String canary = params.getOrDefault(INCLUDE_CANARY, "false");
    if (!canary.equals("true") && !canary.equals("false")) {
      throw invalid(INCLUDE_CANARY, "includeCanary must be true or false, got '" + printable(canary) + "'.");
    }
    return DeviceFilter.of(rae, state, connection, attributes).withCanary(Boolean.parseBoolean(canary));
  }

  private static String attributeValue(String field, String value) {
    if (value.length() > MAX_VALUE_LENGTH) {
      throw invalid(field, "Attribute filter values are at most " + MAX_VALUE_LENGTH + " characters.");
    }
    return value;
  }

  private static int limit(String text, int defaultLimit) {
    if (text == null) {
      return defaultLimit;
    }
    try {
      int limit = Integer.parseInt(text);
      if (limit >= DeviceQuery.MIN_LIMIT && limit <= DeviceQuery.MAX_LIMIT) {
        return limit;
      }
    } catch (NumberFormatException e) {
      // reported below with the accepted range
    }
    throw invalid(LIMIT, "limit must be an integer from " + DeviceQuery.MIN_LIMIT + " to " + DeviceQuery.MAX_LIMIT
        + ", got '" + printable(text) + "'.");
  }

  /** Runs a parse, turning the read side's validation errors into problems with their field. */
  private static <T> T translated(Supplier<T> parse) {
    try {
      return parse.get();
    } catch (InvalidQueryException e) {
      throw new Problem.ProblemException(Problem.of(StatusCodes.BAD_REQUEST, e.errorCode(), e.getMessage(), e.field()));
    }
  }

  private static InvalidQueryException invalid(String field, String detail) {
    return new InvalidQueryException(ErrorCode.REQUEST_INVALID, field, detail);
  }

  private static InvalidQueryException repeated(String field) {
    return invalid(field, "Query parameter '" + printable(field) + "' is given more than once; give it once.");
  }

  /** Echoes client input safely: bounded, without control characters. */
  static String printable(String value) {
    String cut = value.length() > 80 ? value.substring(0, 80) + "..." : value;
    return cut.replaceAll("\\p{Cntrl}", "?");
  }
}
