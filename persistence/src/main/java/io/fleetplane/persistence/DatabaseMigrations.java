package io.fleetplane.persistence;

import org.flywaydb.core.Flyway;
import org.flywaydb.core.api.output.MigrateResult;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Applies the SQL migrations under {@code db/migration} (journal, snapshots, durable state,
 * projection offsets, read-side tables) with Flyway. The project owns its schema: nothing relies
 * on a plugin creating tables at run time.
 *
 * <p>Migrations are append-only: a released {@code V<n>__...sql} file is never edited, because
 * Flyway checksums it and refuses to start against a database that applied a different text.
 */
public final class DatabaseMigrations {

  private static final Logger log = LoggerFactory.getLogger(DatabaseMigrations.class);

  private DatabaseMigrations() {}

  /** Applies pending migrations; returns how many were applied (0 when up to date). */
  public static int migrate(PersistenceSettings settings) {
    Flyway flyway = Flyway.configure()
        .dataSource(settings.jdbcUrl(), settings.user(), settings.password())
        .locations("classpath:db/migration")
        // Issues get version ranges (V20 workflows, V50 schedules, V60 commands) and land in any
        // order: a database that already applied V60 must still apply a V50 merged after it.
        .outOfOrder(true)
        .connectRetries(Math.max(0, (int) settings.connectTimeout().toSeconds()))
        .load();
    MigrateResult result = flyway.migrate();
    log.info("Database {} at schema version {} ({} migration(s) applied now)",
        settings.jdbcUrl(), result.targetSchemaVersion == null
            ? flyway.info().current().getVersion() : result.targetSchemaVersion,
        result.migrationsExecuted);
    return result.migrationsExecuted;
  }
}
