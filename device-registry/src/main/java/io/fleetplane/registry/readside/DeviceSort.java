package io.fleetplane.registry.readside;

import java.util.Optional;

/**
 * A sort order of the device list: a key, ascending or descending ({@code -key}); the session id
 * always breaks ties in the same direction, so the order is total and paging never repeats a row.
 */
public record DeviceSort(DeviceSortKey key, boolean descending) {

  /** Newest changes first: what an operator looking at a fleet usually wants. */
  public static final DeviceSort DEFAULT = new DeviceSort(DeviceSortKey.LAST_UPDATE_AT, true);

  /** Parses {@code lastUpdateAt} or {@code -lastUpdateAt}; empty when the key is unknown. */
  public static Optional<DeviceSort> parse(String text) {
    boolean descending = text.startsWith("-");
    return DeviceSortKey.byApiName(descending ? text.substring(1) : text)
        .map(key -> new DeviceSort(key, descending));
  }

  /** The spelling {@link #parse} accepts; also what a cursor records. */
  public String apiName() {
    return (descending ? "-" : "") + key.apiName();
  }
}
