package io.fleetplane.jobs.workflow;

import akka.actor.typed.ActorSystem;
import akka.cluster.sharding.typed.ShardedDaemonProcessSettings;
import akka.cluster.sharding.typed.javadsl.ShardedDaemonProcess;
import akka.persistence.jdbc.query.javadsl.JdbcReadJournal;
import akka.persistence.query.Offset;
import akka.persistence.typed.PersistenceId;
import akka.projection.Projection;
import akka.projection.ProjectionBehavior;
import akka.projection.ProjectionId;
import akka.projection.eventsourced.EventEnvelope;
import akka.projection.eventsourced.javadsl.EventSourcedProvider;
import akka.projection.javadsl.SourceProvider;
import akka.projection.jdbc.javadsl.JdbcHandler;
import akka.projection.jdbc.javadsl.JdbcProjection;
import com.typesafe.config.Config;
import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.fleetplane.config.metrics.Metrics;
import io.fleetplane.persistence.PersistenceSettings;
import io.fleetplane.persistence.PooledJdbcSession;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executor;
import java.util.concurrent.Executors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The foreach iterations read side: {@code workflow_iteration} (persistence V21), one row per
 * launched iteration with its state and times, so iterations can be listed and filtered a page at
 * a time while the parent instance keeps only counters and a cursor.
 *
 * <p>A projection of the parents' {@link WorkflowInstance.IterationsProgressed} events (tag
 * {@link #TAG}; one event per batch of launches and completions, so the tag costs one row per
 * batch, not per iteration). It runs once in the cluster ({@link ShardedDaemonProcess}) and
 * commits its offset with the rows it wrote (exactly-once), so a crash anywhere replays, never
 * loses, a batch. Eventually consistent: a listing lags the parent by the read journal's polling
 * interval; an iteration launched but not projected yet shows as {@code created}.
 */
public final class IterationReadSide {

  /** The tag of {@link WorkflowInstance.IterationsProgressed} events. */
  public static final String TAG = "workflow-iterations";
  static final String PROJECTION_NAME = "workflow-iterations";
  /** Iteration rows written, by {@code change}: launched, succeeded, failed. */
  public static final String METRIC_ROWS = "fleetplane_workflows_iteration_rows";

  private static final Logger log = LoggerFactory.getLogger(IterationReadSide.class);

  /** One iteration as the read side has it. */
  public record IterationRow(int index, String state, Instant startedAt, Instant finishedAt) {}

  /** {@code total}: rows in the filter (all states: rows of launched iterations). */
  public record RowsPage(long total, List<IterationRow> rows) {}

  /**
   * {@code fleetplane.workflows.iterations}.
   *
   * @param runProjection whether this node may run the projection (it runs on one node at a time)
   * @param poolSize JDBC connections for the projection and the queries
   */
  public record Settings(boolean runProjection, int poolSize, Duration restartMinBackoff,
      Duration restartMaxBackoff) {
    static Settings fromConfig(Config config) {
      Config c = config.getConfig("fleetplane.workflows.iterations");
      return new Settings(c.getBoolean("run-projection"), c.getInt("pool-size"),
          c.getDuration("restart.min-backoff"), c.getDuration("restart.max-backoff"));
    }
  }

  private final HikariDataSource dataSource;
  private final Executor queries;

  private IterationReadSide(HikariDataSource dataSource, Executor queries) {
    this.dataSource = dataSource;
    this.queries = queries;
  }

  static IterationReadSide start(ActorSystem<?> system, PersistenceSettings database, Settings settings) {
    HikariConfig config = new HikariConfig();
    config.setPoolName("fleetplane-workflow-iterations");
    config.setJdbcUrl(database.jdbcUrl());
    config.setUsername(database.user());
    config.setPassword(database.password());
    config.setMaximumPoolSize(settings.poolSize());
    config.setMinimumIdle(1);
    config.setInitializationFailTimeout(-1);
    HikariDataSource dataSource = new HikariDataSource(config);
    var executor = Executors.newFixedThreadPool(settings.poolSize(), r -> {
      Thread t = new Thread(r, "fleetplane-workflow-iterations");
      t.setDaemon(true);
      return t;
    });
    if (settings.runProjection()) {
      SourceProvider<Offset, EventEnvelope<WorkflowInstance.Event>> source =
          EventSourcedProvider.eventsByTag(system, JdbcReadJournal.Identifier(), TAG);
      Projection<EventEnvelope<WorkflowInstance.Event>> projection = JdbcProjection.exactlyOnce(
              ProjectionId.of(PROJECTION_NAME, TAG), source, () -> new PooledJdbcSession(dataSource), Handler::new, system)
          .withRestartBackoff(settings.restartMinBackoff(), settings.restartMaxBackoff(), 0.2);
      ShardedDaemonProcess.get(system).init(ProjectionBehavior.Command.class, PROJECTION_NAME, 1,
          i -> ProjectionBehavior.create(projection), ShardedDaemonProcessSettings.create(system),
          Optional.of(ProjectionBehavior.stopMessage()));
    }
    system.getWhenTerminated().thenRun(() -> {
      executor.shutdown();
      dataSource.close();
    });
    log.info("Workflow iterations read side started (projection {} on this node)",
        settings.runProjection() ? "may run" : "does not run");
    return new IterationReadSide(dataSource, executor);
  }

  /**
   * Rows of one foreach step attempt in index order: those in {@code state} (running, succeeded,
   * failed), or with no state those with index in [offset, offset + limit).
   */
  public CompletionStage<RowsPage> page(String parentInstanceId, String stepId, int attempt, Optional<String> state,
      int offset, int limit) {
    return CompletableFuture.supplyAsync(() -> {
      try (Connection c = dataSource.getConnection()) {
        if (state.isEmpty()) {
          List<IterationRow> rows = rows(c, "SELECT idx, state, started_at, finished_at FROM workflow_iteration"
              + " WHERE parent_instance_id = ? AND step_id = ? AND attempt = ? AND idx >= ? AND idx < ? ORDER BY idx",
              parentInstanceId, stepId, attempt, offset, (int) Math.min((long) offset + limit, Integer.MAX_VALUE));
          return new RowsPage(-1, rows);
        }
        long total;
        try (PreparedStatement count = c.prepareStatement("SELECT count(*) FROM workflow_iteration"
            + " WHERE parent_instance_id = ? AND step_id = ? AND attempt = ? AND state = ?")) {
          bind(count, parentInstanceId, stepId, attempt, state.get());
          try (ResultSet rs = count.executeQuery()) {
            rs.next();
            total = rs.getLong(1);
          }
        }
        List<IterationRow> rows = rows(c, "SELECT idx, state, started_at, finished_at FROM workflow_iteration"
            + " WHERE parent_instance_id = ? AND step_id = ? AND attempt = ? AND state = ? ORDER BY idx"
            + " OFFSET ? LIMIT ?", parentInstanceId, stepId, attempt, state.get(), offset, limit);
        return new RowsPage(total, rows);
      } catch (SQLException e) {
        throw new IllegalStateException("workflow_iteration: " + e.getMessage(), e);
      }
    }, queries);
  }

  private static List<IterationRow> rows(Connection c, String sql, Object... args) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(sql)) {
      bind(ps, args);
      try (ResultSet rs = ps.executeQuery()) {
        List<IterationRow> out = new ArrayList<>();
        while (rs.next()) {
          Timestamp finished = rs.getTimestamp(4);
          out.add(new IterationRow(rs.getInt(1), rs.getString(2), rs.getTimestamp(3).toInstant(),
              finished == null ? null : finished.toInstant()));
        }
        return out;
      }
    }
  }

  private static void bind(PreparedStatement ps, Object... args) throws SQLException {
    for (int i = 0; i < args.length; i++) {
      if (args[i] instanceof Integer n) {
        ps.setInt(i + 1, n);
      } else {
        ps.setString(i + 1, (String) args[i]);
      }
    }
  }

  /** Writes one batch inside the projection's transaction (rows and offset commit together). */
  static final class Handler extends JdbcHandler<EventEnvelope<WorkflowInstance.Event>, PooledJdbcSession> {
    @Override
    public void process(PooledJdbcSession session, EventEnvelope<WorkflowInstance.Event> envelope) throws Exception {
      if (!(envelope.event() instanceof WorkflowInstance.IterationsProgressed e)) {
        return;
      }
      String parent = PersistenceId.extractEntityId(envelope.persistenceId());
      Timestamp at = Timestamp.from(e.at());
      session.withConnection(c -> {
        // Idempotent even without the exactly-once offset: launches insert if absent, finishes
        // overwrite with the same values.
        try (PreparedStatement launch = c.prepareStatement("INSERT INTO workflow_iteration (parent_instance_id,"
            + " step_id, attempt, idx, state, started_at) VALUES (?, ?, ?, ?, 'running', ?) ON CONFLICT DO NOTHING");
            PreparedStatement finish = c.prepareStatement("INSERT INTO workflow_iteration (parent_instance_id,"
                + " step_id, attempt, idx, state, started_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
                + " ON CONFLICT (parent_instance_id, step_id, attempt, idx)"
                + " DO UPDATE SET state = EXCLUDED.state, finished_at = EXCLUDED.finished_at")) {
          for (int i = e.launchFrom(); i < e.launchTo(); i++) {
            launch.setString(1, parent);
            launch.setString(2, e.stepId());
            launch.setInt(3, e.attempt());
            launch.setInt(4, i);
            launch.setTimestamp(5, at);
            launch.addBatch();
          }
          addFinished(finish, parent, e, e.succeeded(), "succeeded", at);
          addFinished(finish, parent, e, e.failed(), "failed", at);
          launch.executeBatch();
          finish.executeBatch();
        }
        return null;
      });
      int launched = e.launchTo() - e.launchFrom();
      if (launched > 0) {
        Metrics.increment(METRIC_ROWS, launched, Map.of("change", "launched"));
      }
      if (!e.succeeded().isEmpty()) {
        Metrics.increment(METRIC_ROWS, e.succeeded().size(), Map.of("change", "succeeded"));
      }
      if (!e.failed().isEmpty()) {
        Metrics.increment(METRIC_ROWS, e.failed().size(), Map.of("change", "failed"));
      }
    }

    private static void addFinished(PreparedStatement finish, String parent, WorkflowInstance.IterationsProgressed e,
        List<Integer> indices, String state, Timestamp at) throws SQLException {
      for (int i : indices) {
        finish.setString(1, parent);
        finish.setString(2, e.stepId());
        finish.setInt(3, e.attempt());
        finish.setInt(4, i);
        finish.setString(5, state);
        // Launched in an earlier batch, so the row exists and keeps its started_at.
        finish.setTimestamp(6, at);
        finish.setTimestamp(7, at);
        finish.addBatch();
      }
    }
  }

}
