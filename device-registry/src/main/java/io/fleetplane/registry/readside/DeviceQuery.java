package io.fleetplane.registry.readside;

import io.fleetplane.config.ErrorCode;
import java.util.Optional;

/**
 * One page request of the device list.
 *
 * @param filter which sessions
 * @param sort in which order
 * @param limit page size, {@value #MIN_LIMIT}..{@value #MAX_LIMIT}
 * @param after where the previous page ended; must have been issued for this filter and sort
 */
public record DeviceQuery(DeviceFilter filter, DeviceSort sort, int limit, Optional<DeviceCursor> after) {

  public static final int MIN_LIMIT = 1;
  public static final int MAX_LIMIT = 500;
  public static final int DEFAULT_LIMIT = 50;

  public DeviceQuery {
    if (limit < MIN_LIMIT || limit > MAX_LIMIT) {
      throw new InvalidQueryException(ErrorCode.REQUEST_INVALID, "limit",
          "limit must be an integer from " + MIN_LIMIT + " to " + MAX_LIMIT + ", got " + limit);
    }
    after.ifPresent(cursor -> cursor.checkFits(sort, filter));
  }
}
