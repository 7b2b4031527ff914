package io.fleetplane.testkit.infra;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;

/**
 * Where to reach one PostgreSQL schema. {@code jdbcUrl} carries {@code currentSchema=<schema>},
 * so unqualified table names (migrations, Akka Persistence JDBC tables) land in that schema.
 */
public record PostgresEndpoint(String jdbcUrl, String user, String password, String schema) {

  /** A new connection for this endpoint; the caller closes it. */
  public Connection connect() throws SQLException {
    return DriverManager.getConnection(jdbcUrl, user, password);
  }

  /** Hides the password, so endpoints can be logged. */
  @Override
  public String toString() {
    return "PostgresEndpoint[" + jdbcUrl + ", user=" + user + ", schema=" + schema + "]";
  }
}
