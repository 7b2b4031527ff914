package io.fleetplane.registry.readside;

import java.time.Instant;
import java.util.List;
import java.util.Optional;

/**
 * One page of the device list.
 *
 * @param items the rows, in the query's order
 * @param next where the next page starts; empty on the last page
 * @param queriedAt the instant liveness was computed for (every row with the same one)
 * @param status how current the rows are
 */
public record DevicePage(List<DeviceRow> items, Optional<DeviceCursor> next, Instant queriedAt,
    ReadSideStatus status) {}
