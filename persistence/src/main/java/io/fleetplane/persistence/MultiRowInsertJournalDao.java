package io.fleetplane.persistence;

import static io.fleetplane.persistence.JournalSql.quote;
import static io.fleetplane.persistence.JournalSql.table;

import akka.persistence.jdbc.config.EventJournalTableColumnNames;
import akka.persistence.jdbc.config.EventJournalTableConfiguration;
import akka.persistence.jdbc.config.EventTagTableConfiguration;
import akka.persistence.jdbc.config.JournalConfig;
import akka.persistence.jdbc.journal.dao.DefaultJournalDao;
import akka.persistence.jdbc.journal.dao.JournalTables.JournalAkkaSerializationRow;
import akka.serialization.Serialization;
import akka.stream.Materializer;
import io.fleetplane.config.metrics.Metrics;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Types;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import scala.Option;
import scala.Tuple2;
import scala.concurrent.ExecutionContext;
import scala.concurrent.Future;
import scala.runtime.BoxedUnit;
import slick.jdbc.JdbcBackend;
import slick.jdbc.JdbcProfile;

/**
 * Akka Persistence JDBC's journal DAO, writing each batch of events with one multi-row INSERT.
 *
 * <p>Why: the stock DAO already queues persists from all entities and writes them in batches, one
 * transaction each, but it inserts the batch's events through Slick's {@code returning ++=}, which
 * Slick runs as one INSERT statement (one database round trip) per event, because it needs every
 * event's generated {@code ordering} for its tag rows. Profiled during the ingest benchmark, those
 * per-event round trips were the journal's cost. Here a batch is one {@code INSERT ... VALUES
 * (...), (...) RETURNING ordering, persistence_id, sequence_number} (in chunks of
 * {@value #MAX_ROWS_PER_STATEMENT} rows) plus one batched insert of the tag rows, in one
 * transaction as before.
 *
 * <p>Same rows, same columns, same all-or-nothing batch as the stock DAO (a failed batch fails
 * every persist in it); reads, deletes and recovery are inherited unchanged. Tag rows are matched
 * to their event by persistence id and sequence number, not by the position of a returned row.
 *
 * <p>Configured as {@code jdbc-journal.dao} (fleetplane-overrides.conf).
 */
public class MultiRowInsertJournalDao extends DefaultJournalDao {

  /** Rows per INSERT: 12 parameters each, well under PostgreSQL's 65,535 bind parameters. */
  static final int MAX_ROWS_PER_STATEMENT = 1000;
  /** One row's placeholders, in the column order of the INSERT. */
  private static final String VALUES_ROW = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

  /**
   * Write batches sent to the database and the events in them (counters, counted when sent):
   * events / batches is the batching achieved.
   */
  public static final String BATCHES = "fleetplane_persistence_journal_write_batches";
  public static final String EVENTS = "fleetplane_persistence_journal_events_written";

  private final String insertPrefix;
  private final String returning;
  private final String insertTagSql;

  public MultiRowInsertJournalDao(JdbcBackend.DatabaseDef db, JdbcProfile profile, JournalConfig journalConfig,
      Serialization serialization, ExecutionContext ec, Materializer mat) {
    super(db, profile, journalConfig, serialization, ec, mat);
    EventJournalTableConfiguration journal = journalConfig.eventJournalTableConfiguration();
    EventJournalTableColumnNames c = journal.columnNames();
    this.insertPrefix = "INSERT INTO " + table(journal.schemaName(), journal.tableName()) + " ("
        + String.join(", ", quote(c.deleted()), quote(c.persistenceId()), quote(c.sequenceNumber()),
            quote(c.writer()), quote(c.writeTimestamp()), quote(c.adapterManifest()), quote(c.eventSerId()),
            quote(c.eventSerManifest()), quote(c.eventPayload()), quote(c.metaSerId()), quote(c.metaSerManifest()),
            quote(c.metaPayload()))
        + ") VALUES ";
    this.returning = " RETURNING " + quote(c.ordering()) + ", " + quote(c.persistenceId()) + ", "
        + quote(c.sequenceNumber());
    EventTagTableConfiguration tags = journalConfig.eventTagTableConfiguration();
    this.insertTagSql = "INSERT INTO " + table(tags.schemaName(), tags.tableName()) + " ("
        + quote(tags.columnNames().eventId()) + ", " + quote(tags.columnNames().tag()) + ") VALUES (?, ?)";
  }

  @Override
  public Future<BoxedUnit> writeJournalRows(
      scala.collection.immutable.Seq<Tuple2<JournalAkkaSerializationRow, scala.collection.immutable.Set<String>>> rows) {
    List<JournalAkkaSerializationRow> events = new ArrayList<>(rows.size());
    List<scala.collection.immutable.Set<String>> tags = new ArrayList<>(rows.size());
    rows.foreach(row -> {
      events.add(row._1());
      tags.add(row._2());
      return BoxedUnit.UNIT;
    });
    slick.jdbc.SimpleJdbcAction<BoxedUnit> write = slick.jdbc.SimpleJdbcAction.apply(ctx -> {
      insert(ctx.connection(), events, tags);
      return BoxedUnit.UNIT;
    });
    Metrics.increment(BATCHES);
    Metrics.increment(EVENTS, events.size(), Map.of());
    return run(write);
  }

  /** Slick's run and transactionally take any effect; Java's generics cannot say so. */
  @SuppressWarnings({"unchecked", "rawtypes"})
  private Future<BoxedUnit> run(slick.jdbc.SimpleJdbcAction<BoxedUnit> action) {
    slick.dbio.DBIOAction transactional =
        profile().api().jdbcActionExtensionMethods((slick.dbio.DBIOAction) action).transactionally();
    return db().run(transactional);
  }

  private void insert(Connection connection, List<JournalAkkaSerializationRow> events,
      List<scala.collection.immutable.Set<String>> tags) {
    try {
      boolean anyTags = tags.stream().anyMatch(set -> !set.isEmpty());
      Map<String, Long> orderings = anyTags ? new HashMap<>(events.size() * 2) : null;
      for (int from = 0; from < events.size(); from += MAX_ROWS_PER_STATEMENT) {
        List<JournalAkkaSerializationRow> chunk =
            events.subList(from, Math.min(events.size(), from + MAX_ROWS_PER_STATEMENT));
        insertEvents(connection, chunk, orderings);
      }
      if (anyTags) {
        insertTags(connection, events, tags, orderings);
      }
    } catch (SQLException e) {
      // Fails every persist of the batch, as the stock DAO does; the message names the first event.
      JournalAkkaSerializationRow first = events.get(0);
      throw new IllegalStateException("journal write of " + events.size() + " events (first "
          + first.persistenceId() + " #" + first.sequenceNumber() + ") failed: " + e.getMessage(), e);
    }
  }

  private void insertEvents(Connection connection, List<JournalAkkaSerializationRow> chunk,
      Map<String, Long> orderings) throws SQLException {
    try (PreparedStatement insert = connection.prepareStatement(insertSql(chunk.size()))) {
      int p = 1;
      for (JournalAkkaSerializationRow e : chunk) {
        insert.setBoolean(p++, e.deleted());
        insert.setString(p++, e.persistenceId());
        insert.setLong(p++, e.sequenceNumber());
        insert.setString(p++, e.writer());
        insert.setLong(p++, e.writeTimestamp());
        insert.setString(p++, e.adapterManifest());
        insert.setInt(p++, e.eventSerId());
        insert.setString(p++, e.eventSerManifest());
        insert.setBytes(p++, e.eventPayload());
        Option<Object> metaSerId = e.metaSerId();
        if (metaSerId.isDefined()) {
          insert.setInt(p++, (Integer) metaSerId.get());
        } else {
          insert.setNull(p++, Types.INTEGER);
        }
        insert.setString(p++, e.metaSerManifest().isDefined() ? e.metaSerManifest().get() : null);
        insert.setBytes(p++, e.metaPayload().isDefined() ? e.metaPayload().get() : null);
      }
      try (ResultSet generated = insert.executeQuery()) {
        while (generated.next()) {
          if (orderings != null) {
            orderings.put(key(generated.getString(2), generated.getLong(3)), generated.getLong(1));
          }
        }
      }
    }
  }

  private void insertTags(Connection connection, List<JournalAkkaSerializationRow> events,
      List<scala.collection.immutable.Set<String>> tags, Map<String, Long> orderings) throws SQLException {
    try (PreparedStatement insert = connection.prepareStatement(insertTagSql)) {
      for (int i = 0; i < events.size(); i++) {
        JournalAkkaSerializationRow event = events.get(i);
        Long ordering = orderings.get(key(event.persistenceId(), event.sequenceNumber()));
        if (ordering == null) {
          throw new SQLException("no ordering returned for " + event.persistenceId() + " #" + event.sequenceNumber());
        }
        scala.collection.Iterator<String> it = tags.get(i).iterator();
        while (it.hasNext()) {
          insert.setLong(1, ordering);
          insert.setString(2, it.next());
          insert.addBatch();
        }
      }
      // One statement with pgjdbc's reWriteBatchedInserts (fleetplane-overrides.conf).
      insert.executeBatch();
    }
  }

  /** Built per batch (microseconds): one cached string per batch size would hold megabytes. */
  String insertSql(int rows) {
    StringBuilder sql = new StringBuilder(insertPrefix.length() + rows * (VALUES_ROW.length() + 2)
        + returning.length());
    sql.append(insertPrefix);
    for (int i = 0; i < rows; i++) {
      if (i > 0) {
        sql.append(", ");
      }
      sql.append(VALUES_ROW);
    }
    return sql.append(returning).toString();
  }

  private static String key(String persistenceId, long sequenceNumber) {
    return sequenceNumber + "/" + persistenceId;
  }
}
