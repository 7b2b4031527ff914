package io.fleetplane.persistence;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * The connection pool and the thread pool of a store that runs plain JDBC next to the journal
 * (definitions, schedules, signals). JDBC blocks, so its calls run on their own threads, as many
 * as there are connections, never on Akka's dispatchers.
 */
public final class JdbcPools {

  private JdbcPools() {}

  /**
   * A pool on the configured database that starts even while PostgreSQL is still down (the first
   * query waits for it), so a node comes up in any order with its database.
   */
  public static HikariDataSource open(PersistenceSettings db, int poolSize, String poolName) {
    return new HikariDataSource(config(db, poolSize, poolName));
  }

  /**
   * As {@link #open}, for a projection's derived rows written exactly-once (rows and offset in one
   * transaction): its commits do not wait for the WAL flush, since a PostgreSQL crash can lose only
   * a consistent suffix, which the projection replays from the journal.
   */
  public static HikariDataSource openForProjection(PersistenceSettings db, int poolSize, String poolName) {
    HikariConfig config = config(db, poolSize, poolName);
    config.setConnectionInitSql("SET synchronous_commit = off");
    return new HikariDataSource(config);
  }

  private static HikariConfig config(PersistenceSettings db, int poolSize, String poolName) {
    HikariConfig config = new HikariConfig();
    config.setJdbcUrl(db.jdbcUrl());
    config.setUsername(db.user());
    config.setPassword(db.password());
    config.setMaximumPoolSize(poolSize);
    config.setMinimumIdle(1);
    config.setPoolName(poolName);
    config.setInitializationFailTimeout(-1);
    // Statement batches (a tick's fire rows, start outcomes) go as multi-row statements: one
    // round trip and one plan per batch instead of one per row.
    config.addDataSourceProperty("reWriteBatchedInserts", "true");
    return config;
  }

  /** Daemon threads named {@code threadName}, one per connection, for the store's blocking calls. */
  public static ExecutorService blockingExecutor(int threads, String threadName) {
    return Executors.newFixedThreadPool(threads, r -> {
      Thread t = new Thread(r, threadName);
      t.setDaemon(true);
      return t;
    });
  }
}
