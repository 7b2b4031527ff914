package io.fleetplane.persistence;

import scala.Option;

/** SQL names for Fleetplane's own statements on Akka Persistence JDBC's configured tables. */
final class JournalSql {

  private JournalSql() {}

  /**
   * An identifier quoted as Slick's PostgreSQL profile quotes it (the stock queries match names
   * case-sensitively).
   */
  static String quote(String identifier) {
    return "\"" + identifier.replace("\"", "\"\"") + "\"";
  }

  /** A configured table, schema-qualified when the plugin config names a schema. */
  static String table(Option<String> schema, String name) {
    return schema.isDefined() ? quote(schema.get()) + "." + quote(name) : quote(name);
  }
}
