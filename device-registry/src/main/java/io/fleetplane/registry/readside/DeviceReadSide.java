package io.fleetplane.registry.readside;

import akka.actor.Cancellable;
import akka.actor.typed.ActorSystem;
import akka.actor.typed.DispatcherSelector;
import akka.cluster.sharding.typed.ShardedDaemonProcessSettings;
import akka.cluster.sharding.typed.javadsl.ShardedDaemonProcess;
import akka.persistence.jdbc.query.javadsl.JdbcReadJournal;
import akka.persistence.query.Offset;
import akka.projection.Projection;
import akka.projection.ProjectionBehavior;
import akka.projection.ProjectionId;
import akka.projection.eventsourced.EventEnvelope;
import akka.projection.eventsourced.javadsl.EventSourcedProvider;
import akka.projection.javadsl.SourceProvider;
import akka.projection.jdbc.javadsl.JdbcProjection;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.fleetplane.config.metrics.Metrics;
import io.fleetplane.persistence.PersistenceSettings;
import io.fleetplane.persistence.PooledJdbcSession;
import io.fleetplane.registry.DeviceSession;
import java.time.Instant;
import java.util.Map;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import scala.concurrent.ExecutionContextExecutor;

/**
 * The device read side of one node: a small JDBC pool on the journal's database, the projection
 * that keeps {@code device_session} and {@code device_session_attribute} in step with the
 * journal, the queries over them, and the lag gauge.
 *
 * <p><b>Once in the cluster.</b> The projection runs as a single {@link ShardedDaemonProcess}
 * instance, so exactly one node applies events at a time; it moves when that node leaves. Its
 * offset lives in {@code akka_projection_offset_store} and is committed with the rows it
 * produced, so a restart (of the projection, the node or the cluster) resumes exactly after the
 * last applied event. A failing event restarts the projection with backoff from that offset.
 *
 * <p><b>Lifecycle.</b> {@link #start} after the node joined the cluster; the pool closes when the
 * actor system has terminated (the projection stops with it, before that).
 */
public final class DeviceReadSide {

  /** Seconds since the oldest event not yet projected was written; 0 when caught up. */
  public static final String METRIC_LAG_SECONDS = "fleetplane_registry_read_side_lag_seconds";
  /**
   * Events the projection handled, tagged {@code result}: {@code applied}, or {@code duplicate}
   * (the row already had it; never expected with exactly-once offsets, so worth an alert).
   */
  public static final String METRIC_EVENTS = "fleetplane_registry_read_side_events";
  /** Journal positions not yet projected. */
  public static final String METRIC_LAG_EVENTS = "fleetplane_registry_read_side_lag_events";

  private static final Logger log = LoggerFactory.getLogger(DeviceReadSide.class);

  private final DeviceReadSideRepository repository;
  private final DeviceQueries queries;

  private DeviceReadSide(DeviceReadSideRepository repository, DeviceQueries queries) {
    this.repository = repository;
    this.queries = queries;
  }

  /** Opens the pool and, when configured, starts the projection (once in the cluster). */
  public static DeviceReadSide start(ActorSystem<?> system, PersistenceSettings database, ReadSideSettings settings) {
    HikariDataSource dataSource = pool(database, settings);
    DeviceReadSideRepository repository = new DeviceReadSideRepository(dataSource, new ObjectMapper(),
        settings.unknownAfter(), settings.queryTimeout());
    ExecutionContextExecutor queryExecutor = system.dispatchers().lookup(DispatcherSelector.fromConfig(ReadSideSettings.QUERY_DISPATCHER));
    DeviceQueries queries = new DeviceQueries(repository, new DeviceHistory(system), queryExecutor);

    if (settings.runProjection()) {
      Projection<EventEnvelope<DeviceSession.Event>> projection = projection(system, dataSource, repository, settings);
      ShardedDaemonProcess.get(system).init(ProjectionBehavior.Command.class, DeviceReadSideRepository.PROJECTION_NAME,
          1, i -> ProjectionBehavior.create(projection), ShardedDaemonProcessSettings.create(system),
          Optional.of(ProjectionBehavior.stopMessage()));
    }
    Cancellable lagGauge = system.scheduler().scheduleWithFixedDelay(settings.metricsInterval(),
        settings.metricsInterval(), () -> updateLagGauge(repository), queryExecutor);
    system.getWhenTerminated().thenRun(() -> {
      lagGauge.cancel();
      dataSource.close();
    });
    log.info("Device read side started (projection {} on this node, pool of {} connections)",
        settings.runProjection() ? "may run" : "does not run", settings.poolSize());
    return new DeviceReadSide(repository, queries);
  }

  public DeviceQueries queries() {
    return queries;
  }

  public DeviceReadSideRepository repository() {
    return repository;
  }

  private static Projection<EventEnvelope<DeviceSession.Event>> projection(ActorSystem<?> system,
      HikariDataSource dataSource, DeviceReadSideRepository repository, ReadSideSettings settings) {
    SourceProvider<Offset, EventEnvelope<DeviceSession.Event>> source =
        EventSourcedProvider.eventsByTag(system, JdbcReadJournal.Identifier(), DeviceReadSideRepository.TAG);
    // Exactly-once per group: the group's rows and its last offset commit in one transaction.
    return JdbcProjection.groupedWithin(
            ProjectionId.of(DeviceReadSideRepository.PROJECTION_NAME, DeviceReadSideRepository.TAG),
            source,
            () -> new PooledJdbcSession(dataSource),
            () -> new DeviceSessionProjectionHandler(repository),
            system)
        .withGroup(settings.groupAfterEvents(), settings.groupAfterDuration())
        .withRestartBackoff(settings.restartMinBackoff(), settings.restartMaxBackoff(), 0.2);
  }

  private static HikariDataSource pool(PersistenceSettings database, ReadSideSettings settings) {
    HikariConfig config = new HikariConfig();
    config.setPoolName("fleetplane-read-side");
    config.setJdbcUrl(database.jdbcUrl());
    config.setUsername(database.user());
    config.setPassword(database.password());
    config.setMaximumPoolSize(settings.poolSize());
    config.setMinimumIdle(1);
    config.setConnectionTimeout(settings.connectionTimeout().toMillis());
    // Start without a reachable database (the node's health check reports it); connect lazily.
    config.setInitializationFailTimeout(-1);
    // The read side does not wait for its commits to reach disk. Safe because it is derived data
    // written exactly-once: rows and projection offset commit in one transaction, so a PostgreSQL
    // crash can only lose a consistent suffix, which the projection replays from the journal. It
    // halves the WAL flushes per device record (the journal's commit stays synchronous: Kafka
    // offsets are committed after it). Commits waiting on WAL flush dominate a busy database here;
    // the ingest benchmark itself did not get faster (the projection is off its critical path).
    config.setConnectionInitSql("SET synchronous_commit = off");
    return new HikariDataSource(config);
  }

  private static void updateLagGauge(DeviceReadSideRepository repository) {
    try {
      ReadSideStatus status = repository.status(Instant.now());
      Metrics.gauge(METRIC_LAG_SECONDS, Map.of(), status.lag().toMillis() / 1000.0);
      Metrics.gauge(METRIC_LAG_EVENTS, Map.of(), status.lagEvents());
    } catch (Exception e) {
      log.warn("Could not read the read side's lag: {}", e.toString());
    }
  }
}
