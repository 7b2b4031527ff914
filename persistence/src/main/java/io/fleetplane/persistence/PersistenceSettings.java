package io.fleetplane.persistence;

import com.typesafe.config.Config;
import java.time.Duration;

/**
 * The PostgreSQL database behind the journal, snapshots, durable state and read side.
 *
 * @param jdbcUrl JDBC URL; add {@code currentSchema=...} to place every table in one schema
 * @param user database user
 * @param password database password (may be empty with trust auth)
 * @param poolSize connections shared by the journal, snapshots and read journal
 * @param migrateOnStart whether the node applies pending migrations before it starts its actors
 * @param connectTimeout how long start-up waits for the database before giving up
 */
public record PersistenceSettings(
    String jdbcUrl,
    String user,
    String password,
    int poolSize,
    boolean migrateOnStart,
    Duration connectTimeout) {

  @Override
  public String toString() {
    // Never print the password: settings are logged at start-up.
    return "PersistenceSettings[jdbcUrl=" + jdbcUrl + ", user=" + user + ", poolSize=" + poolSize
        + ", migrateOnStart=" + migrateOnStart + "]";
  }

  public static PersistenceSettings fromConfig(Config config) {
    Config c = config.getConfig("fleetplane.persistence");
    return new PersistenceSettings(
        c.getString("jdbc-url"),
        c.getString("user"),
        c.getString("password"),
        c.getInt("pool-size"),
        c.getBoolean("migrate-on-start"),
        c.getDuration("connect-timeout"));
  }
}
