package io.fleetplane.testkit.infra;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TestPostgresIT {

  @TempDir
  Path tmp;

  @Test
  void newSchemasAreIsolatedAndDropSchemaRemovesThem() throws Exception {
    assertIsolatedAndDroppable(TestPostgres.newSchema(), TestPostgres.newSchema());
  }

  @Test
  void theEmbeddedFallbackGivesIsolatedSchemasToo() throws Exception {
    PostgresEndpoint a = TestPostgres.newEmbeddedSchema();
    assertTrue(a.jdbcUrl().startsWith("jdbc:postgresql://127.0.0.1:"), a.jdbcUrl());
    assertIsolatedAndDroppable(a, TestPostgres.newEmbeddedSchema());
  }

  @Test
  void machineServerOrFailCreatesTheSchemaOnTheStockServer() throws Exception {
    PostgresEndpoint endpoint = TestPostgres.machineServerOrFail();
    try (Connection c = endpoint.connect(); Statement s = c.createStatement()) {
      assertEquals(endpoint.schema(), single(s, "SELECT current_schema()"));
      assertEquals("5432", single(s, "SELECT current_setting('port')"));
    } finally {
      TestPostgres.dropSchema(endpoint);
    }
  }

  /** Local mode: data survives a restart, also under a root-only (0700) parent directory. */
  @Test
  void embeddedServerKeepsDataAcrossRestart() throws Exception {
    Path rootOnly = Files.createDirectory(tmp.resolve("root-only"),
        PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
    Path dataDir = rootOnly.resolve("pg");
    int port = FreePorts.next();

    try (EmbeddedPostgresServer pg = EmbeddedPostgresServer.start(dataDir, port);
         Connection c = pg.endpoint().connect(); Statement s = c.createStatement()) {
      assertEquals(EmbeddedPostgresServer.SCHEMA, single(s, "SELECT current_schema()"));
      LoopbackOnly.assertLoopbackOnly(pg.port());
      s.execute("CREATE TABLE device (id text PRIMARY KEY, state text NOT NULL)");
      s.execute("INSERT INTO device VALUES ('d-1', 'online')");
    }
    assertTrue(FreePorts.isFree(port), "server stopped on close()");

    try (EmbeddedPostgresServer pg = EmbeddedPostgresServer.start(dataDir, port);
         Connection c = pg.endpoint().connect(); Statement s = c.createStatement()) {
      assertEquals("online", single(s, "SELECT state FROM device WHERE id = 'd-1'"));
    }
  }

  /** As root, zonky runs PostgreSQL without privileges: a data dir owned by another user is taken over. */
  @Test
  void embeddedServerUsesADataDirOwnedByAnotherUserWhenRunningAsRoot() throws Exception {
    assumeTrue(PostgresDirs.runningAsRoot(), "only relevant when the JVM runs as root");
    Path dataDir = Files.createDirectory(tmp.resolve("pg"),
        PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
    Files.setAttribute(dataDir, "unix:uid", 4242);
    Files.setAttribute(dataDir, "unix:gid", 4242);

    try (EmbeddedPostgresServer pg = EmbeddedPostgresServer.start(dataDir, 0);
         Connection c = pg.endpoint().connect(); Statement s = c.createStatement()) {
      assertEquals("1", single(s, "SELECT 1"));
    }
    assertEquals(0, Files.getAttribute(dataDir, "unix:uid"));
  }

  private static void assertIsolatedAndDroppable(PostgresEndpoint a, PostgresEndpoint b) throws SQLException {
    assertNotEquals(a.schema(), b.schema());
    assertTrue(a.jdbcUrl().contains("currentSchema=" + a.schema()), a.jdbcUrl());
    try (Connection ca = a.connect(); Statement sa = ca.createStatement();
         Connection cb = b.connect(); Statement sb = cb.createStatement()) {
      assertEquals(a.schema(), single(sa, "SELECT current_schema()"));
      sa.execute("CREATE TABLE job (id int PRIMARY KEY)"); // unqualified: lands in a's schema
      sa.execute("INSERT INTO job VALUES (1)");
      assertEquals(a.schema(), single(sa,
          "SELECT table_schema FROM information_schema.tables WHERE table_name = 'job'"
              + " AND table_schema = '" + a.schema() + "'"));
      assertEquals(null, single(sb, "SELECT to_regclass('job')::text"), "b must not see a's table");
      sb.execute("CREATE TABLE job (id int PRIMARY KEY)"); // same name, no clash
      assertEquals("0", single(sb, "SELECT count(*) FROM job"));
      assertEquals("1", single(sa, "SELECT count(*) FROM job"));
    }
    TestPostgres.dropSchema(a);
    TestPostgres.dropSchema(b);
    TestPostgres.dropSchema(a); // already gone: fine
    try (Connection c = a.connect(); Statement s = c.createStatement()) {
      assertFalse(exists(s, a.schema()));
      assertFalse(exists(s, b.schema()));
    }
  }

  private static boolean exists(Statement s, String schema) throws SQLException {
    return "1".equals(single(s, "SELECT count(*) FROM information_schema.schemata WHERE schema_name = '"
        + schema + "'"));
  }

  private static String single(Statement s, String sql) throws SQLException {
    try (ResultSet rs = s.executeQuery(sql)) {
      assertTrue(rs.next(), "no row for " + sql);
      return rs.getString(1);
    }
  }
}
