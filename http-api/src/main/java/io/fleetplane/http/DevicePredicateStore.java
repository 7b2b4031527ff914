package io.fleetplane.http;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.zaxxer.hikari.HikariDataSource;
import io.fleetplane.persistence.JdbcPools;
import io.fleetplane.persistence.PersistenceSettings;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutorService;

/**
 * Registered device-state predicates and their evaluation state (persistence V55). JDBC blocks,
 * so every call runs on the store's own small pool. State changes are compare-and-set on the
 * generation, so two evaluators (a singleton hand-over) can never count one crossing twice.
 */
final class DevicePredicateStore implements AutoCloseable {

  /** The name is already registered (409). */
  static final class NameTakenException extends RuntimeException {
    NameTakenException(String name) {
      super("A predicate named " + name + " exists: delete it first or pick another name.", null, false, false);
    }
  }

  private static final ObjectMapper JSON = Json.MAPPER;
  private static final String COLUMNS = "predicate_id, name, signal_name, definition, created_at, satisfied, generation,"
      + " pending_signal, last_total, last_matching, last_evaluated_at, last_crossed_at";

  @FunctionalInterface
  private interface Work<T> {
    T run() throws Exception;
  }

  private final HikariDataSource dataSource;
  private final ExecutorService executor;

  DevicePredicateStore(PersistenceSettings db, int poolSize) {
    this.dataSource = JdbcPools.open(db, poolSize, "fleetplane-device-predicates");
    this.executor = JdbcPools.blockingExecutor(poolSize, "fleetplane-device-predicates");
  }

  CompletionStage<DevicePredicate.Stored> insert(String id, DevicePredicate.Registration r, Instant now) {
    return async(() -> {
      try {
        update("INSERT INTO device_state_predicate (predicate_id, name, signal_name, definition, created_at)"
            + " VALUES (?, ?, ?, ?, ?)", id, r.name(), r.signal(), JSON.writeValueAsString(r.predicate()),
            Timestamp.from(now));
      } catch (SQLException e) {
        if ("23505".equals(e.getSQLState())) {
          throw new NameTakenException(r.name());
        }
        throw e;
      }
      return new DevicePredicate.Stored(id, r.name(), r.signal(), r.predicate(), now, false, 0, null, null, null,
          null, null);
    });
  }

  CompletionStage<List<DevicePredicate.Stored>> list() {
    return async(() -> query("SELECT " + COLUMNS + " FROM device_state_predicate ORDER BY name"));
  }

  CompletionStage<Optional<DevicePredicate.Stored>> get(String id) {
    return async(() -> query("SELECT " + COLUMNS + " FROM device_state_predicate WHERE predicate_id = ?", id)
        .stream().findFirst());
  }

  /** True when it existed. */
  CompletionStage<Boolean> delete(String id) {
    return async(() -> update("DELETE FROM device_state_predicate WHERE predicate_id = ?", id) == 1);
  }

  /**
   * Records crossing {@code generation + 1} with its signal's params as pending, if the predicate
   * is still unsatisfied at {@code generation}; false when someone else got there first.
   */
  CompletionStage<Boolean> markCrossed(String id, int generation, String signalParams, Instant at) {
    return async(() -> update("UPDATE device_state_predicate SET satisfied = true, generation = generation + 1,"
        + " pending_signal = ?, last_crossed_at = ? WHERE predicate_id = ? AND generation = ? AND NOT satisfied",
        signalParams, Timestamp.from(at), id, generation) == 1);
  }

  /** The signal of {@code generation} is published. */
  CompletionStage<Boolean> clearPending(String id, int generation) {
    return async(() -> update("UPDATE device_state_predicate SET pending_signal = NULL WHERE predicate_id = ?"
        + " AND generation = ?", id, generation) == 1);
  }

  /** The predicate no longer holds: the next crossing emits again. */
  CompletionStage<Boolean> rearm(String id, int generation) {
    return async(() -> update("UPDATE device_state_predicate SET satisfied = false WHERE predicate_id = ?"
        + " AND generation = ? AND satisfied", id, generation) == 1);
  }

  CompletionStage<Boolean> observed(String id, long total, long matching, Instant at) {
    return async(() -> update("UPDATE device_state_predicate SET last_total = ?, last_matching = ?,"
        + " last_evaluated_at = ? WHERE predicate_id = ?", total, matching, Timestamp.from(at), id) == 1);
  }

  private List<DevicePredicate.Stored> query(String sql, Object... params) throws Exception {
    try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement(sql)) {
      bind(ps, params);
      List<DevicePredicate.Stored> out = new ArrayList<>();
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          out.add(new DevicePredicate.Stored(rs.getString(1), rs.getString(2), rs.getString(3),
              JSON.readValue(rs.getString(4), DevicePredicate.class), instant(rs, 5), rs.getBoolean(6), rs.getInt(7),
              rs.getString(8), (Long) rs.getObject(9), (Long) rs.getObject(10), instant(rs, 11), instant(rs, 12)));
        }
      }
      return out;
    }
  }

  private int update(String sql, Object... params) throws SQLException {
    try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement(sql)) {
      bind(ps, params);
      return ps.executeUpdate();
    }
  }

  private static void bind(PreparedStatement ps, Object... params) throws SQLException {
    for (int i = 0; i < params.length; i++) {
      ps.setObject(i + 1, params[i]);
    }
  }

  private static Instant instant(ResultSet rs, int column) throws SQLException {
    Timestamp t = rs.getTimestamp(column);
    return t == null ? null : t.toInstant();
  }

  private <T> CompletionStage<T> async(Work<T> work) {
    CompletableFuture<T> result = new CompletableFuture<>();
    executor.execute(() -> {
      try {
        result.complete(work.run());
      } catch (Exception e) {
        result.completeExceptionally(e);
      }
    });
    return result;
  }

  @Override
  public void close() {
    executor.shutdown();
    dataSource.close();
  }
}
