package io.fleetplane.testkit.infra;

import com.typesafe.config.Config;
import io.fleetplane.config.FleetplaneConfig;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.Properties;
import java.util.regex.Pattern;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Owns per-test-run isolation in PostgreSQL: every {@link #newSchema()} is a fresh schema, so
 * test runs (and parallel builds on one machine) never see each other's tables.
 *
 * <p>The server is the machine's PostgreSQL when it accepts a connection (127.0.0.1:5432, trust
 * auth, user {@code postgres}, database {@code test}; override with {@code
 * FLEETPLANE_TEST_PG_URL}/{@code _USER}/{@code _PASSWORD} or {@code
 * -Dfleetplane.testkit.postgres.url=...}, see reference.conf); otherwise one embedded PostgreSQL
 * (zonky) started once per JVM. Which one is used is decided once per JVM and logged.
 */
public final class TestPostgres {

  public static final String START_MACHINE_SERVER =
      "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start";

  private static final Logger log = LoggerFactory.getLogger(TestPostgres.class);
  /** fleetplane.testkit.postgres (reference.conf; env and -D overrides apply). */
  private static final Config SETTINGS = FleetplaneConfig.load().getConfig("fleetplane.testkit.postgres");
  private static final Pattern SCHEMA_NAME = Pattern.compile("[a-z_][a-z0-9_]{0,62}");
  private static final DateTimeFormatter STAMP = DateTimeFormatter.ofPattern("yyyyMMddHHmmss");
  private static final String ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";
  private static final SecureRandom RANDOM = new SecureRandom();

  private static Server server; // guarded by TestPostgres.class
  private static Server embedded; // guarded by TestPostgres.class

  private TestPostgres() {}

  /** A base JDBC URL without a schema, with credentials. */
  private record Server(String url, String user, String password, String description) {}

  /** A new empty schema {@code fp_<yyyyMMddHHmmss>_<random6>} on the machine or embedded server. */
  public static PostgresEndpoint newSchema() {
    return createSchema(server());
  }

  /**
   * A new schema on the machine's server, for ITs that must run against the stock PostgreSQL.
   * Fails with instructions when that server does not accept connections.
   */
  public static PostgresEndpoint machineServerOrFail() {
    Server machine = machineServer();
    SQLException refused = refusal(machine);
    if (refused != null) {
      throw new IllegalStateException("The machine's PostgreSQL refused a connection to "
          + machine.url() + " as user '" + machine.user() + "' (" + refused.getMessage() + "). Start it"
          + " with `" + START_MACHINE_SERVER + "`; if the database is missing, create it with "
          + "`psql -h 127.0.0.1 -U postgres -c 'CREATE DATABASE test'`; or point "
          + "FLEETPLANE_TEST_PG_URL (and _USER, _PASSWORD) at another server.", refused);
    }
    return createSchema(machine);
  }

  /** Drops the schema and everything in it; a schema already gone is fine. */
  public static void dropSchema(PostgresEndpoint endpoint) {
    String schema = checkedSchemaName(endpoint.schema());
    try (Connection c = DriverManager.getConnection(endpoint.jdbcUrl(), endpoint.user(),
        endpoint.password());
         Statement s = c.createStatement()) {
      s.execute("DROP SCHEMA IF EXISTS " + schema + " CASCADE");
      log.info("Dropped PostgreSQL schema {}", schema);
    } catch (SQLException e) {
      throw new IllegalStateException("Could not drop schema " + schema + " via " + endpoint.jdbcUrl()
          + ": " + e.getMessage(), e);
    }
  }

  /** {@code url} with {@code currentSchema=schema} added as a query parameter. */
  static String withCurrentSchema(String url, String schema) {
    return url + (url.contains("?") ? "&" : "?") + "currentSchema=" + schema;
  }

  static String checkedSchemaName(String schema) {
    if (schema == null || !SCHEMA_NAME.matcher(schema).matches()) {
      throw new IllegalArgumentException("Not a plain lower-case PostgreSQL schema name: " + schema);
    }
    return schema;
  }

  static String newSchemaName() {
    StringBuilder name = new StringBuilder("fp_").append(LocalDateTime.now().format(STAMP)).append('_');
    for (int i = 0; i < 6; i++) {
      name.append(ALPHABET.charAt(RANDOM.nextInt(ALPHABET.length())));
    }
    return name.toString();
  }

  private static PostgresEndpoint createSchema(Server on) {
    String schema = newSchemaName();
    try (Connection c = connect(on); Statement s = c.createStatement()) {
      s.execute("CREATE SCHEMA " + schema);
    } catch (SQLException e) {
      throw new IllegalStateException("Could not create schema " + schema + " on " + on.description()
          + " (" + on.url() + "): " + e.getMessage(), e);
    }
    log.info("Created PostgreSQL schema {} on {}", schema, on.description());
    return new PostgresEndpoint(withCurrentSchema(on.url(), schema), on.user(), on.password(), schema);
  }

  private static synchronized Server server() {
    if (server == null) {
      Server machine = machineServer();
      SQLException refused = refusal(machine);
      if (refused == null) {
        server = machine;
        log.info("Test schemas go to the machine's PostgreSQL at {}", machine.url());
      } else {
        log.info("The machine's PostgreSQL at {} is not usable ({}); starting an embedded PostgreSQL"
            + " for this JVM instead", machine.url(), refused.getMessage());
        server = embeddedServer();
      }
    }
    return server;
  }

  /** A new schema on this JVM's embedded server, whatever the machine offers (tests the fallback). */
  static PostgresEndpoint newEmbeddedSchema() {
    return createSchema(embeddedServer());
  }

  private static Server machineServer() {
    return new Server(SETTINGS.getString("url"),
        SETTINGS.getString("user"),
        SETTINGS.getString("password"),
        "the machine's PostgreSQL");
  }

  /** One per JVM, in a temp folder wiped at exit: tests need isolation, not durability. */
  private static synchronized Server embeddedServer() {
    if (embedded != null) {
      return embedded;
    }
    Path dir;
    try {
      dir = Files.createTempDirectory("fleetplane-test-pg-");
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot create a temporary folder for the embedded PostgreSQL", e);
    }
    EmbeddedPostgresServer pg = EmbeddedPostgresServer.start(dir.resolve("data"), 0);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      pg.close();
      TempDirs.deleteQuietly(dir);
    }, "fleetplane-test-postgres-stop"));
    PostgresEndpoint e = pg.endpoint();
    embedded = new Server(pg.baseJdbcUrl(), e.user(), e.password(),
        "an embedded PostgreSQL on port " + pg.port());
    return embedded;
  }

  /** Null when the server accepts a connection, otherwise why it did not. */
  private static SQLException refusal(Server s) {
    try (Connection c = connect(s)) {
      return c.isValid(5) ? null : new SQLException("the connection was not valid");
    } catch (SQLException e) {
      return e;
    }
  }

  private static Connection connect(Server s) throws SQLException {
    Properties p = new Properties();
    p.setProperty("user", s.user());
    p.setProperty("password", s.password());
    // Fail fast when nothing listens, instead of the driver's default of 10 s per attempt.
    p.setProperty("connectTimeout", "3");
    p.setProperty("loginTimeout", "5");
    return DriverManager.getConnection(s.url(), p);
  }

}
