package io.fleetplane.registry.readside;

import com.typesafe.config.Config;
import java.time.Duration;

/**
 * How the device read side runs: its connection pool, its projection and its queries; see
 * {@code fleetplane.registry.read-side} in this module's reference.conf.
 *
 * @param runProjection whether this node takes part in running the projection (it runs once in
 *     the cluster either way); queries work without it
 * @param poolSize connections of the read side's own pool (projection and queries)
 * @param queryThreads threads (and so connections) queries may use at once; less than poolSize,
 *     so the projection always finds a connection
 * @param connectionTimeout how long a query or the projection waits for a pooled connection
 * @param queryTimeout statement timeout of a list, stats or status query
 * @param restartMinBackoff first delay before a failed projection restarts from its offset
 * @param restartMaxBackoff longest such delay
 * @param metricsInterval how often the lag gauge is refreshed
 * @param unknownAfter silence after which a connected device reads UNKNOWN (the registry's rule)
 * @param groupAfterEvents most journal events the projection applies in one transaction
 * @param groupAfterDuration longest the projection waits to fill a group before applying it
 */
public record ReadSideSettings(
    boolean runProjection,
    int poolSize,
    int queryThreads,
    Duration connectionTimeout,
    Duration queryTimeout,
    Duration restartMinBackoff,
    Duration restartMaxBackoff,
    Duration metricsInterval,
    Duration unknownAfter,
    int groupAfterEvents,
    Duration groupAfterDuration) {

  /** The dispatcher the blocking queries run on (configured beside the settings). */
  public static final String QUERY_DISPATCHER = "fleetplane.registry.read-side.query-dispatcher";

  public ReadSideSettings {
    if (queryThreads < 1 || poolSize <= queryThreads) {
      throw new IllegalArgumentException("fleetplane.registry.read-side: pool-size (" + poolSize
          + ") must exceed query-threads (" + queryThreads + ") so the projection always gets a connection");
    }
    if (groupAfterEvents < 1) {
      throw new IllegalArgumentException("fleetplane.registry.read-side.group.max-events must be at least 1");
    }
  }

  public static ReadSideSettings fromConfig(Config config) {
    Config c = config.getConfig("fleetplane.registry.read-side");
    return new ReadSideSettings(
        c.getBoolean("run-projection"),
        c.getInt("pool-size"),
        c.getInt("query-dispatcher.thread-pool-executor.fixed-pool-size"),
        c.getDuration("connection-timeout"),
        c.getDuration("query-timeout"),
        c.getDuration("restart.min-backoff"),
        c.getDuration("restart.max-backoff"),
        c.getDuration("metrics-interval"),
        config.getDuration("fleetplane.registry.liveness.unknown-after"),
        c.getInt("group.max-events"),
        c.getDuration("group.max-interval"));
  }
}
