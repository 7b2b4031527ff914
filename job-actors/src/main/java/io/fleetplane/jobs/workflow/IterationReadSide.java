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
import com.zaxxer.hikari.HikariDataSource;
import io.fleetplane.config.metrics.Metrics;
import io.fleetplane.persistence.JdbcPools;
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
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executor;
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
 * applies events in groups, committing each group's offset with the rows it wrote (exactly-once),
 * so a crash anywhere replays, never loses, a group. Eventually consistent: a listing lags the
 * parent by the read journal's polling interval plus at most the group interval; an iteration
 * launched but not projected yet shows as {@code created}.
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
   * @param groupMaxEvents events the projection applies in one transaction at most
   * @param groupMaxInterval longest a group waits for more events after its first
   */
  public record Settings(boolean runProjection, int poolSize, Duration restartMinBackoff,
      Duration restartMaxBackoff, int groupMaxEvents, Duration groupMaxInterval) {
    public Settings {
      if (groupMaxEvents < 1) {
        throw new IllegalArgumentException("fleetplane.workflows.iterations.group.max-events must be at least 1, was "
            + groupMaxEvents);
      }
    }

    static Settings fromConfig(Config config) {
      Config c = config.getConfig("fleetplane.workflows.iterations");
      return new Settings(c.getBoolean("run-projection"), c.getInt("pool-size"),
          c.getDuration("restart.min-backoff"), c.getDuration("restart.max-backoff"), c.getInt("group.max-events"),
          c.getDuration("group.max-interval"));
    }
  }

  private final HikariDataSource dataSource;
  private final Executor queries;

  private IterationReadSide(HikariDataSource dataSource, Executor queries) {
    this.dataSource = dataSource;
    this.queries = queries;
  }

  static IterationReadSide start(ActorSystem<?> system, PersistenceSettings database, Settings settings) {
    // Batched upserts go as multi-row statements; commits need not wait for the WAL flush.
    HikariDataSource dataSource = JdbcPools.openForProjection(database, settings.poolSize(),
        "fleetplane-workflow-iterations");
    var executor = JdbcPools.blockingExecutor(settings.poolSize(), "fleetplane-workflow-iterations");
    if (settings.runProjection()) {
      SourceProvider<Offset, EventEnvelope<WorkflowInstance.Event>> source =
          EventSourcedProvider.eventsByTag(system, JdbcReadJournal.Identifier(), TAG);
      // Exactly-once per group: the group's rows and its last offset commit in one transaction.
      Projection<EventEnvelope<WorkflowInstance.Event>> projection = JdbcProjection.groupedWithin(
              ProjectionId.of(PROJECTION_NAME, TAG), source, () -> new PooledJdbcSession(dataSource), Handler::new, system)
          .withGroup(settings.groupMaxEvents(), settings.groupMaxInterval())
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

  private record RowKey(String parent, String stepId, int attempt, int index) {}

  /** One iteration's row as a group of events leaves it; {@code startedAt} null: launched in an earlier group. */
  private static final class RowChange {
    Timestamp startedAt;
    String state = "running";
    Timestamp finishedAt;
  }

  /**
   * Writes one group of events inside the projection's transaction (rows and the group's last
   * offset commit together). The group is first folded per iteration, so an iteration launched
   * and finished within the group is one row insert, not an insert and an update (measured: most
   * iterations live for a few parent batches, shorter than a group), and all rows go in one
   * batched upsert: one round trip and one commit per group instead of two statements and a
   * commit per event.
   */
  static final class Handler
      extends JdbcHandler<List<EventEnvelope<WorkflowInstance.Event>>, PooledJdbcSession> {

    /**
     * Idempotent even without the exactly-once offset: a launch inserts if absent (a replayed
     * launch never turns a finished row back to running: the update's WHERE skips it), a finish
     * overwrites state and finish time with the same values and keeps the row's started_at.
     */
    static final String UPSERT = "INSERT INTO workflow_iteration (parent_instance_id, step_id, attempt, idx, state,"
        + " started_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
        + " ON CONFLICT (parent_instance_id, step_id, attempt, idx)"
        + " DO UPDATE SET state = EXCLUDED.state, finished_at = EXCLUDED.finished_at"
        + " WHERE EXCLUDED.finished_at IS NOT NULL";

    @Override
    public void process(PooledJdbcSession session, List<EventEnvelope<WorkflowInstance.Event>> envelopes)
        throws Exception {
      Map<RowKey, RowChange> rows = new LinkedHashMap<>();
      long launched = 0;
      long succeeded = 0;
      long failed = 0;
      for (EventEnvelope<WorkflowInstance.Event> envelope : envelopes) {
        if (!(envelope.event() instanceof WorkflowInstance.IterationsProgressed e)) {
          continue;
        }
        String parent = PersistenceId.extractEntityId(envelope.persistenceId());
        Timestamp at = Timestamp.from(e.at());
        for (int i = e.launchFrom(); i < e.launchTo(); i++) {
          RowChange row = rows.computeIfAbsent(new RowKey(parent, e.stepId(), e.attempt(), i), k -> new RowChange());
          if (row.startedAt == null && row.finishedAt == null) {
            row.startedAt = at;
          }
        }
        fold(rows, parent, e, e.succeeded(), "succeeded", at);
        fold(rows, parent, e, e.failed(), "failed", at);
        launched += e.launchTo() - e.launchFrom();
        succeeded += e.succeeded().size();
        failed += e.failed().size();
      }
      if (rows.isEmpty()) {
        return;
      }
      session.withConnection(c -> {
        try (PreparedStatement upsert = c.prepareStatement(UPSERT)) {
          for (var entry : rows.entrySet()) {
            RowKey key = entry.getKey();
            RowChange row = entry.getValue();
            upsert.setString(1, key.parent());
            upsert.setString(2, key.stepId());
            upsert.setInt(3, key.attempt());
            upsert.setInt(4, key.index());
            upsert.setString(5, row.state);
            // Finished without its launch in this group: the row exists and keeps its started_at;
            // the finish time only stands in should it not.
            upsert.setTimestamp(6, row.startedAt != null ? row.startedAt : row.finishedAt);
            upsert.setTimestamp(7, row.finishedAt);
            upsert.addBatch();
          }
          upsert.executeBatch();
        }
        return null;
      });
      count("launched", launched);
      count("succeeded", succeeded);
      count("failed", failed);
    }

    private static void fold(Map<RowKey, RowChange> rows, String parent, WorkflowInstance.IterationsProgressed e,
        List<Integer> indices, String state, Timestamp at) {
      for (int i : indices) {
        RowChange row = rows.computeIfAbsent(new RowKey(parent, e.stepId(), e.attempt(), i), k -> new RowChange());
        row.state = state;
        row.finishedAt = at;
      }
    }

    private static void count(String change, long rows) {
      if (rows > 0) {
        Metrics.increment(METRIC_ROWS, rows, Map.of("change", change));
      }
    }
  }

}
