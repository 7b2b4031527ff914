package io.fleetplane.registry.readside;

import java.time.Instant;

/**
 * A population of sessions and how many of them match a further filter, counted in one snapshot.
 *
 * @param total sessions in the population
 * @param matching sessions in the population that also match
 * @param queriedAt the instant liveness was computed for
 * @param status how current the counts are
 */
public record PopulationCount(long total, long matching, Instant queriedAt, ReadSideStatus status) {}
