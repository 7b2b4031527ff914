package io.fleetplane.jobs.workflow.schedule;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.zaxxer.hikari.HikariDataSource;
import io.fleetplane.jobs.workflow.schedule.domain.CatchUp;
import io.fleetplane.persistence.JdbcPools;
import io.fleetplane.persistence.PersistenceSettings;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutorService;
import java.util.function.Supplier;

/**
 * Schedules ({@code workflow_schedule}, persistence V50) and the fire times they started
 * ({@code workflow_schedule_fire}). JDBC blocks, so every call runs on the store's own small pool
 * and returns a stage.
 */
public final class ScheduleStore implements AutoCloseable {

  /** A stored schedule; {@code params} are the workflow params of every instance it starts. */
  public record Schedule(String scheduleId, String workflowId, String expression, String timeZone, CatchUp catchUp,
      int maxCatchUp, Map<String, JsonNode> params, boolean enabled, Instant watermark, Instant createdAt,
      Instant updatedAt) {}

  /**
   * One fire time of a schedule: recorded at {@code firedAt} (the trigger, durable), naming the
   * instance it starts; {@code startedAt} is null until the engine accepted the start, and
   * {@code startError} says why a fire will never start.
   */
  public record Fire(String scheduleId, String workflowId, Instant scheduledTime, String instanceId,
      Instant firedAt, Instant startedAt, String startError) {}

  /** A fire time to record: the instance id is derived before the start (see the engine). */
  public record FireIntent(String scheduleId, String workflowId, Instant scheduledTime, String instanceId) {}

  /** A recorded fire's outcome: started, or never to start ({@code error} set). */
  public record FireOutcome(String scheduleId, Instant scheduledTime, Instant at, String error) {}

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String COLUMNS = "schedule_id, workflow_id, expression, time_zone, catch_up, max_catch_up,"
      + " params, enabled, watermark, created_at, updated_at";
  private static final String FIRE_COLUMNS = "f.schedule_id, s.workflow_id, f.scheduled_time, f.instance_id,"
      + " f.fired_at, f.started_at, f.start_error";

  private final HikariDataSource dataSource;
  private final ExecutorService executor;

  public ScheduleStore(PersistenceSettings db, int poolSize) {
    this.dataSource = JdbcPools.open(db, poolSize, "fleetplane-workflow-schedules");
    this.executor = JdbcPools.blockingExecutor(poolSize, "fleetplane-schedule-store");
  }

  public CompletionStage<Schedule> insert(Schedule s) {
    return async(() -> {
      try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement(
          "INSERT INTO workflow_schedule (" + COLUMNS + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")) {
        ps.setString(1, s.scheduleId());
        ps.setString(2, s.workflowId());
        ps.setString(3, s.expression());
        ps.setString(4, s.timeZone());
        ps.setString(5, s.catchUp().wireName());
        ps.setInt(6, s.maxCatchUp());
        ps.setString(7, JSON.writeValueAsString(s.params()));
        ps.setBoolean(8, s.enabled());
        ps.setTimestamp(9, Timestamp.from(s.watermark()));
        ps.setTimestamp(10, Timestamp.from(s.createdAt()));
        ps.setTimestamp(11, Timestamp.from(s.updatedAt()));
        ps.executeUpdate();
        return s;
      }
    });
  }

  public CompletionStage<Optional<Schedule>> get(String scheduleId) {
    return async(() -> query("SELECT " + COLUMNS + " FROM workflow_schedule WHERE schedule_id = ?", scheduleId)
        .stream().findFirst());
  }

  public CompletionStage<List<Schedule>> ofWorkflow(String workflowId) {
    return async(() -> query("SELECT " + COLUMNS + " FROM workflow_schedule WHERE workflow_id = ?"
        + " ORDER BY created_at, schedule_id", workflowId));
  }

  public CompletionStage<Integer> countOfWorkflow(String workflowId) {
    return async(() -> {
      try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement(
          "SELECT COUNT(*) FROM workflow_schedule WHERE workflow_id = ?")) {
        ps.setString(1, workflowId);
        try (ResultSet rs = ps.executeQuery()) {
          rs.next();
          return rs.getInt(1);
        }
      }
    });
  }

  public CompletionStage<List<Schedule>> enabled() {
    return async(() -> query("SELECT " + COLUMNS + " FROM workflow_schedule WHERE enabled"));
  }

  /**
   * Enables or disables. Enabling moves the watermark to {@code now}: fire times while the schedule
   * was disabled are not "missed", they were not wanted.
   */
  public CompletionStage<Optional<Schedule>> setEnabled(String scheduleId, boolean enabled, Instant now) {
    return async(() -> {
      String sql = enabled
          ? "UPDATE workflow_schedule SET enabled = TRUE, updated_at = ?,"
              + " watermark = CASE WHEN enabled THEN watermark ELSE GREATEST(watermark, ?) END WHERE schedule_id = ?"
          : "UPDATE workflow_schedule SET enabled = FALSE, updated_at = ?, watermark = GREATEST(watermark, ?)"
              + " WHERE schedule_id = ?";
      update(sql, Timestamp.from(now), Timestamp.from(now), scheduleId);
      return query("SELECT " + COLUMNS + " FROM workflow_schedule WHERE schedule_id = ?", scheduleId).stream()
          .findFirst();
    });
  }

  public CompletionStage<Boolean> delete(String scheduleId) {
    return async(() -> update("DELETE FROM workflow_schedule WHERE schedule_id = ?", scheduleId) > 0);
  }

  /**
   * Records fire times and moves each schedule's watermark past its own, plus past
   * {@code settleUpTo} (fire times a catch-up policy skipped), in one transaction: after it every
   * fire time up to a watermark is either recorded or skipped on purpose. Idempotent: a fire time
   * recorded twice keeps its first row.
   */
  public CompletionStage<Void> recordFires(List<FireIntent> fires, Map<String, Instant> settleUpTo, Instant firedAt) {
    return async(() -> {
      Map<String, Instant> watermarks = new HashMap<>(settleUpTo);
      for (FireIntent f : fires) {
        watermarks.merge(f.scheduleId(), f.scheduledTime(), (a, b) -> a.isAfter(b) ? a : b);
      }
      try (Connection c = dataSource.getConnection()) {
        c.setAutoCommit(false);
        try (PreparedStatement fire = c.prepareStatement("INSERT INTO workflow_schedule_fire (schedule_id,"
            + " scheduled_time, instance_id, fired_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING");
            // One statement for every schedule's watermark (a batch of single-row updates costs a
            // round trip each).
            PreparedStatement mark = c.prepareStatement("UPDATE workflow_schedule s SET watermark ="
                + " GREATEST(s.watermark, v.w) FROM unnest(?::varchar[], ?::timestamptz[]) AS v(id, w)"
                + " WHERE s.schedule_id = v.id")) {
          for (FireIntent f : fires) {
            fire.setString(1, f.scheduleId());
            fire.setTimestamp(2, Timestamp.from(f.scheduledTime()));
            fire.setString(3, f.instanceId());
            fire.setTimestamp(4, Timestamp.from(firedAt));
            fire.addBatch();
          }
          fire.executeBatch();
          // Sorted: concurrent writers lock the rows in the same order.
          TreeMap<String, Instant> sorted = new TreeMap<>(watermarks);
          mark.setArray(1, c.createArrayOf("varchar", sorted.keySet().toArray()));
          mark.setArray(2, c.createArrayOf("timestamptz", sorted.values().stream().map(Timestamp::from).toArray()));
          mark.executeUpdate();
          c.commit();
        } catch (SQLException e) {
          c.rollback();
          throw e;
        }
      }
      return null;
    });
  }

  /** Records fires' outcomes (started, or never to start) in one statement batch. */
  public CompletionStage<Void> recordOutcomes(List<FireOutcome> outcomes) {
    return async(() -> {
      try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement(
          "UPDATE workflow_schedule_fire f SET started_at = v.at, start_error = v.err"
              + " FROM unnest(?::varchar[], ?::timestamptz[], ?::timestamptz[], ?::varchar[]) AS v(id, t, at, err)"
              + " WHERE f.schedule_id = v.id AND f.scheduled_time = v.t AND f.started_at IS NULL")) {
        ps.setArray(1, c.createArrayOf("varchar", outcomes.stream().map(FireOutcome::scheduleId).toArray()));
        ps.setArray(2, c.createArrayOf("timestamptz",
            outcomes.stream().map(o -> Timestamp.from(o.scheduledTime())).toArray()));
        ps.setArray(3, c.createArrayOf("timestamptz", outcomes.stream().map(o -> Timestamp.from(o.at())).toArray()));
        ps.setArray(4, c.createArrayOf("varchar", outcomes.stream()
            .map(o -> o.error() == null ? null : o.error().substring(0, Math.min(500, o.error().length()))).toArray()));
        ps.executeUpdate();
      }
      return null;
    });
  }

  /** Recorded fires whose instance has not started yet, oldest first (what a new scheduler re-drives). */
  public CompletionStage<List<Fire>> unstarted() {
    return async(() -> fireQuery("SELECT " + FIRE_COLUMNS + " FROM workflow_schedule_fire f"
        + " LEFT JOIN workflow_schedule s USING (schedule_id) WHERE f.started_at IS NULL"
        + " ORDER BY f.scheduled_time, f.schedule_id"));
  }

  /** Moves the watermark (fire times up to {@code upTo} were skipped on purpose or failed for good). */
  public CompletionStage<Void> settle(String scheduleId, Instant upTo) {
    return async(() -> {
      update("UPDATE workflow_schedule SET watermark = GREATEST(watermark, ?) WHERE schedule_id = ?",
          Timestamp.from(upTo), scheduleId);
      return null;
    });
  }

  /** The latest fires of a schedule, newest first. */
  public CompletionStage<List<Fire>> fires(String scheduleId, int limit) {
    return async(() -> fireQuery("SELECT " + FIRE_COLUMNS
        + " FROM workflow_schedule_fire f JOIN workflow_schedule s USING (schedule_id) WHERE f.schedule_id = ?"
        + " ORDER BY f.scheduled_time DESC LIMIT " + limit, scheduleId));
  }

  /** Which schedule started an instance (lineage, instance -> trigger). */
  public CompletionStage<Optional<Fire>> fireOf(String instanceId) {
    return async(() -> fireQuery("SELECT " + FIRE_COLUMNS
        + " FROM workflow_schedule_fire f LEFT JOIN workflow_schedule s USING (schedule_id) WHERE f.instance_id = ?",
        instanceId).stream().findFirst());
  }

  private List<Fire> fireQuery(String sql, Object... args) throws SQLException {
    try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement(sql)) {
      bind(ps, args);
      List<Fire> out = new ArrayList<>();
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          Timestamp started = rs.getTimestamp(6);
          out.add(new Fire(rs.getString(1), rs.getString(2), rs.getTimestamp(3).toInstant(), rs.getString(4),
              rs.getTimestamp(5).toInstant(), started == null ? null : started.toInstant(), rs.getString(7)));
        }
      }
      return out;
    }
  }

  private List<Schedule> query(String sql, Object... args) throws Exception {
    try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement(sql)) {
      bind(ps, args);
      List<Schedule> out = new ArrayList<>();
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          Map<String, JsonNode> params = new LinkedHashMap<>();
          JSON.readTree(rs.getString(7)).fields().forEachRemaining(f -> params.put(f.getKey(), f.getValue()));
          out.add(new Schedule(rs.getString(1), rs.getString(2), rs.getString(3), rs.getString(4),
              CatchUp.fromWire(rs.getString(5)), rs.getInt(6), params, rs.getBoolean(8),
              rs.getTimestamp(9).toInstant(), rs.getTimestamp(10).toInstant(), rs.getTimestamp(11).toInstant()));
        }
      }
      return out;
    }
  }

  private int update(String sql, Object... args) throws SQLException {
    try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement(sql)) {
      bind(ps, args);
      return ps.executeUpdate();
    }
  }

  private static void bind(PreparedStatement ps, Object... args) throws SQLException {
    for (int i = 0; i < args.length; i++) {
      ps.setObject(i + 1, args[i]);
    }
  }

  private interface Sql<T> {
    T run() throws Exception;
  }

  private <T> CompletionStage<T> async(Sql<T> work) {
    Supplier<T> s = () -> {
      try {
        return work.run();
      } catch (RuntimeException e) {
        throw e;
      } catch (Exception e) {
        throw new IllegalStateException("workflow schedules: " + e.getMessage(), e);
      }
    };
    return CompletableFuture.supplyAsync(s, executor);
  }

  @Override
  public void close() {
    executor.shutdown();
    dataSource.close();
  }
}
