package io.fleetplane.http.commands;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.fleetplane.persistence.PersistenceSettings;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.sql.Types;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * The {@code device_command} table (persistence V60): every command the API sent and its outcome,
 * shared by every node so that a command can be polled through any node and after a restart.
 *
 * <p>JDBC blocks, so every call runs on this store's own pool of threads with a bounded queue: when
 * the database falls behind, calls fail at once with {@link Saturated} (the API answers 503)
 * instead of piling up.
 */
public final class CommandStore implements AutoCloseable {

  /** The store's queue is full: the database is not keeping up. */
  public static final class Saturated extends RuntimeException {
    Saturated() {
      super("the command store's queue is full", null, false, false);
    }
  }

  /** What {@link #insert} found. */
  public sealed interface Insert {}

  /** The command is new and stored. */
  public record Inserted(StoredCommand command) implements Insert {}

  /** The session already has a command with this request id: that one stands. */
  public record Existing(StoredCommand command) implements Insert {}

  private static final String COLUMNS = "command_id, device_session_id, rae_serial, name, params, timeout_ms,"
      + " request_id, issued_by, status, result, error_code, error_message, reply_source, device_ts, created_at,"
      + " deadline, completed_at";

  private final HikariDataSource dataSource;
  private final ThreadPoolExecutor executor;
  private final ObjectMapper json;

  public CommandStore(PersistenceSettings db, CommandSettings settings, ObjectMapper json) {
    HikariConfig config = new HikariConfig();
    config.setJdbcUrl(db.jdbcUrl());
    config.setUsername(db.user());
    config.setPassword(db.password());
    config.setMaximumPoolSize(settings.dbPoolSize());
    config.setMinimumIdle(1);
    config.setPoolName("fleetplane-commands");
    config.setInitializationFailTimeout(-1);
    this.dataSource = new HikariDataSource(config);
    this.executor = new ThreadPoolExecutor(settings.dbPoolSize(), settings.dbPoolSize(), 0, TimeUnit.MILLISECONDS,
        new ArrayBlockingQueue<>(settings.dbQueue()), r -> {
          Thread t = new Thread(r, "fleetplane-command-store");
          t.setDaemon(true);
          return t;
        });
    this.json = json;
  }

  /** Stores a new pending command, unless its session already has one with the same request id. */
  public CompletionStage<Insert> insert(StoredCommand command) {
    return run(() -> {
      try (Connection c = dataSource.getConnection();
          PreparedStatement insert = c.prepareStatement("INSERT INTO device_command (" + COLUMNS + ")"
              + " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL, NULL, NULL, ?, ?, NULL)"
              + " ON CONFLICT (device_session_id, request_id) WHERE request_id IS NOT NULL DO NOTHING")) {
        insert.setString(1, command.commandId());
        insert.setString(2, command.deviceSessionId());
        insert.setString(3, command.raeSerial());
        insert.setString(4, command.name());
        insert.setString(5, command.params().toString());
        insert.setLong(6, command.timeoutMs());
        insert.setString(7, command.requestId().orElse(null));
        insert.setString(8, command.issuedBy());
        insert.setString(9, command.status());
        insert.setTimestamp(10, Timestamp.from(command.createdAt()));
        insert.setTimestamp(11, Timestamp.from(command.deadline()));
        if (insert.executeUpdate() == 1) {
          return new Inserted(command);
        }
        try (PreparedStatement select = c.prepareStatement("SELECT " + COLUMNS
            + " FROM device_command WHERE device_session_id = ? AND request_id = ?")) {
          select.setString(1, command.deviceSessionId());
          select.setString(2, command.requestId().orElseThrow());
          try (ResultSet rs = select.executeQuery()) {
            if (!rs.next()) {
              // Expired between the conflict and the read: rare enough to ask for a retry.
              throw new SQLException("request id conflict with a command that vanished; retry");
            }
            return new Existing(row(rs));
          }
        }
      }
    });
  }

  public CompletionStage<Optional<StoredCommand>> find(String commandId) {
    return run(() -> {
      try (Connection c = dataSource.getConnection();
          PreparedStatement select = c.prepareStatement("SELECT " + COLUMNS + " FROM device_command WHERE command_id = ?")) {
        select.setString(1, commandId);
        try (ResultSet rs = select.executeQuery()) {
          return rs.next() ? Optional.of(row(rs)) : Optional.empty();
        }
      }
    });
  }

  /**
   * Settles a pending command; a command already settled (or unknown here, e.g. issued by
   * something other than the API) is left as it is.
   *
   * @return whether this call settled it
   */
  public CompletionStage<Boolean> complete(String commandId, StoredCommand.Outcome outcome) {
    return run(() -> {
      try (Connection c = dataSource.getConnection();
          PreparedStatement update = c.prepareStatement("UPDATE device_command SET status = ?, result = ?,"
              + " error_code = ?, error_message = ?, reply_source = ?, device_ts = ?, completed_at = ?"
              + " WHERE command_id = ? AND status = 'pending'")) {
        update.setString(1, outcome.status());
        update.setString(2, outcome.result() == null || outcome.result().isNull() ? null : outcome.result().toString());
        update.setString(3, outcome.errorCode().orElse(null));
        update.setString(4, outcome.errorMessage().orElse(null));
        update.setString(5, outcome.source());
        if (outcome.deviceTs().isPresent()) {
          update.setLong(6, outcome.deviceTs().get());
        } else {
          update.setNull(6, Types.BIGINT);
        }
        update.setTimestamp(7, Timestamp.from(outcome.completedAt()));
        update.setString(8, commandId);
        return update.executeUpdate() == 1;
      }
    });
  }

  /**
   * Times out pending commands whose deadline passed more than {@code grace} ago without any
   * reply (the bridge lost them, e.g. in a crash), and deletes commands older than
   * {@code retention}. Idempotent, so every node may run it.
   *
   * @return {timed out, deleted}
   */
  public CompletionStage<int[]> sweep(Duration grace, Duration retention, Instant now) {
    return run(() -> {
      try (Connection c = dataSource.getConnection();
          PreparedStatement timeOut = c.prepareStatement("UPDATE device_command SET status = 'timed-out',"
              + " error_code = 'command.timed-out', error_message = ?, reply_source = 'node', completed_at = ?"
              + " WHERE status = 'pending' AND deadline < ?");
          PreparedStatement delete = c.prepareStatement("DELETE FROM device_command WHERE created_at < ?")) {
        timeOut.setString(1, "no reply, not even the bridge's timed-out, within " + grace.toMillis()
            + " ms after the deadline; the bridge may have restarted while it was pending");
        timeOut.setTimestamp(2, Timestamp.from(now));
        timeOut.setTimestamp(3, Timestamp.from(now.minus(grace)));
        delete.setTimestamp(1, Timestamp.from(now.minus(retention)));
        return new int[] {timeOut.executeUpdate(), delete.executeUpdate()};
      }
    });
  }

  @Override
  public void close() {
    executor.shutdown();
    dataSource.close();
  }

  private StoredCommand row(ResultSet rs) throws SQLException {
    String status = rs.getString("status");
    Timestamp completedAt = rs.getTimestamp("completed_at");
    Optional<StoredCommand.Outcome> outcome = Optional.empty();
    if (!StoredCommand.PENDING.equals(status) && completedAt != null) {
      long deviceTs = rs.getLong("device_ts");
      Optional<Long> ts = rs.wasNull() ? Optional.empty() : Optional.of(deviceTs);
      String result = rs.getString("result");
      outcome = Optional.of(new StoredCommand.Outcome(status, result == null ? null : parse(result),
          Optional.ofNullable(rs.getString("error_code")), Optional.ofNullable(rs.getString("error_message")),
          rs.getString("reply_source"), completedAt.toInstant(), ts));
    }
    return new StoredCommand(rs.getString("command_id"), rs.getString("device_session_id"),
        rs.getString("rae_serial"), rs.getString("name"), (ObjectNode) parse(rs.getString("params")),
        rs.getLong("timeout_ms"), Optional.ofNullable(rs.getString("request_id")), rs.getString("issued_by"),
        status, rs.getTimestamp("created_at").toInstant(), rs.getTimestamp("deadline").toInstant(), outcome);
  }

  private JsonNode parse(String text) throws SQLException {
    try {
      return json.readTree(text);
    } catch (JsonProcessingException e) {
      throw new SQLException("device_command holds invalid JSON: " + e.getOriginalMessage(), e);
    }
  }

  private interface Sql<T> {
    T call() throws SQLException;
  }

  private <T> CompletionStage<T> run(Sql<T> sql) {
    Supplier<T> task = () -> {
      try {
        return sql.call();
      } catch (SQLException e) {
        throw new IllegalStateException("device_command: " + e.getMessage(), e);
      }
    };
    try {
      return CompletableFuture.supplyAsync(task, executor);
    } catch (RejectedExecutionException e) {
      return CompletableFuture.failedFuture(new Saturated());
    }
  }
}
