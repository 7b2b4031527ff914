package io.fleetplane.registry.readside;

import io.fleetplane.config.ids.DeviceSessionId;
import java.sql.SQLException;
import java.sql.SQLTimeoutException;
import java.sql.SQLTransientException;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeoutException;

/**
 * What HTTP routes ask of the read side, without blocking their threads: the JDBC queries run on
 * the read side's own dispatcher, sized to its connection pool, and the history streams from the
 * journal.
 */
public final class DeviceQueries {

  /** A query's blocking work. */
  @FunctionalInterface
  private interface Blocking<T> {
    T run() throws SQLException;
  }

  private final DeviceReadSideRepository repository;
  private final DeviceHistory history;
  private final Executor executor;

  public DeviceQueries(DeviceReadSideRepository repository, DeviceHistory history, Executor executor) {
    this.repository = repository;
    this.history = history;
    this.executor = executor;
  }

  public CompletionStage<DevicePage> list(DeviceQuery query) {
    return blocking(() -> repository.list(query, Instant.now()));
  }

  public CompletionStage<DeviceStats> stats(DeviceFilter filter) {
    return blocking(() -> repository.stats(filter, Instant.now()));
  }

  /** Sessions of {@code population} and of {@code matching}, from one snapshot. */
  public CompletionStage<PopulationCount> count(DeviceFilter population, DeviceFilter matching) {
    return blocking(() -> repository.count(population, matching, Instant.now()));
  }

  public CompletionStage<ReadSideStatus> status() {
    return blocking(() -> repository.status(Instant.now()));
  }

  public CompletionStage<HistoryPage> history(DeviceSessionId id, long after, int limit) {
    return history.page(id, after, limit);
  }

  /** The silence after which a connected device reads UNKNOWN, for rendering liveness. */
  public Duration unknownAfter() {
    return repository.unknownAfter();
  }

  /**
   * Runs JDBC work on the query dispatcher. A busy pool or a statement timeout becomes a
   * {@link TimeoutException} (the API answers 503 with Retry-After: try again); anything else
   * fails as it is. The future is completed directly rather than through a wrapping exception,
   * so routes see the cause itself.
   */
  private <T> CompletionStage<T> blocking(Blocking<T> work) {
    CompletableFuture<T> result = new CompletableFuture<>();
    executor.execute(() -> {
      try {
        result.complete(work.run());
      } catch (SQLException e) {
        result.completeExceptionally(busy(e) ? timeout(e) : e);
      } catch (RuntimeException e) {
        result.completeExceptionally(e);
      }
    });
    return result;
  }

  /** No pooled connection in time, or PostgreSQL cancelled the statement (57014). */
  private static boolean busy(SQLException e) {
    return e instanceof SQLTransientException || e instanceof SQLTimeoutException
        || "57014".equals(e.getSQLState());
  }

  private static TimeoutException timeout(SQLException e) {
    TimeoutException timeout = new TimeoutException("read side busy: " + e.getMessage());
    timeout.initCause(e);
    return timeout;
  }
}
