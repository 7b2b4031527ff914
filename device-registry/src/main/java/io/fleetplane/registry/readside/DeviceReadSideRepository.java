package io.fleetplane.registry.readside;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fleetplane.config.ids.DeviceTopic.Channel;
import io.fleetplane.registry.DeviceSession;
import io.fleetplane.registry.domain.DeviceMessage;
import io.fleetplane.registry.domain.Liveness;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.UUID;
import javax.sql.DataSource;

/**
 * All SQL of the device read side: the projection's writes (inside the transaction that also
 * stores its offset) and the queries behind lists, stats and "how far behind". Every value is a
 * bound parameter; the only SQL text chosen at run time is a sort column and direction taken from
 * {@link DeviceSortKey}, never from the request.
 *
 * <p>Liveness in SQL mirrors {@link Liveness#effective}: DISCONNECTED when reported so, UNKNOWN
 * when nothing was heard for {@code unknownAfter}, else the reported connection. Reads bind one
 * {@code now} for the whole query, and the rows' liveness is computed in Java for the same
 * instant, so a filter and the values it returns always agree.
 */
public final class DeviceReadSideRepository {

  /** Projection name in the offset store; part of the schema, never rename casually. */
  public static final String PROJECTION_NAME = "device-read-side";
  /** The journal tag the projection reads (DeviceSession tags every event with its type name). */
  public static final String TAG = DeviceSession.ENTITY_TYPE_KEY.name();
  /**
   * Longest text form kept for equality filters. Longer values (big JSON objects) are kept as
   * JSON but not filterable: a btree index entry must stay under ~2.7 kB.
   */
  static final int MAX_TEXT_FORM = 1024;
  /** V3's test_state column width; longer states are cut (see {@link #boundedTestState}). */
  static final int MAX_TEST_STATE = 64;

  private static final String EFFECTIVE_CONNECTION =
      "CASE WHEN s.connection = 'DISCONNECTED' THEN 'DISCONNECTED' "
          + "WHEN s.last_heard_at <= ? THEN 'UNKNOWN' ELSE s.connection END";

  /**
   * The leading CTE (which does nothing) keeps pgjdbc's batch rewrite (reWriteBatchedInserts, on
   * for the projection's pool) from merging a group's upserts into one multi-row INSERT, which
   * PostgreSQL rejects when a session appears twice in the group ("ON CONFLICT DO UPDATE command
   * cannot affect row a second time"). The batch is still sent in one round trip, each statement
   * runs on its own in order, and each reports its own update count.
   */
  private static final String UPSERT_SESSION = """
      WITH one_statement_per_event AS (SELECT 1)
      INSERT INTO device_session AS s (device_session_id, rae_serial, connection, connection_as_of, test_state,
          last_heard_at, last_update_at, applied_messages, journal_sequence_number, journal_ordering, projected_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?, now())
      ON CONFLICT (device_session_id) DO UPDATE SET
          rae_serial = EXCLUDED.rae_serial,
          connection = EXCLUDED.connection,
          connection_as_of = CASE WHEN s.connection = EXCLUDED.connection
              THEN s.connection_as_of ELSE EXCLUDED.connection_as_of END,
          test_state = CASE WHEN CAST(? AS BOOLEAN) THEN s.test_state ELSE EXCLUDED.test_state END,
          last_heard_at = EXCLUDED.last_heard_at,
          last_update_at = EXCLUDED.last_update_at,
          applied_messages = s.applied_messages + 1,
          journal_sequence_number = EXCLUDED.journal_sequence_number,
          journal_ordering = EXCLUDED.journal_ordering,
          projected_at = now()
      WHERE s.journal_sequence_number < EXCLUDED.journal_sequence_number
      """;

  private static final String UPSERT_ATTRIBUTE = """
      INSERT INTO device_session_attribute (device_session_id, name, value, value_json, reported_at, received_at)
      VALUES (?, ?, ?, CAST(? AS JSONB), ?, ?)
      ON CONFLICT (device_session_id, name) DO UPDATE SET
          value = EXCLUDED.value, value_json = EXCLUDED.value_json,
          reported_at = EXCLUDED.reported_at, received_at = EXCLUDED.received_at
      """;

  private static final String SESSION_COLUMNS = "s.device_session_id, s.rae_serial, s.test_state, s.connection, "
      + "s.connection_as_of, s.last_heard_at, s.last_update_at, s.applied_messages, s.journal_sequence_number";

  private final DataSource dataSource;
  private final ObjectMapper mapper;
  private final Duration unknownAfter;
  private final int queryTimeoutSeconds;

  public DeviceReadSideRepository(DataSource dataSource, ObjectMapper mapper, Duration unknownAfter,
      Duration queryTimeout) {
    this.dataSource = dataSource;
    this.mapper = mapper;
    this.unknownAfter = unknownAfter;
    this.queryTimeoutSeconds = (int) Math.max(1, queryTimeout.toSeconds());
  }

  public Duration unknownAfter() {
    return unknownAfter;
  }

  // --- writes: the projection ------------------------------------------------------------------

  /** One journaled event for {@link #applyGroup}: its session, journal position and the event. */
  public record JournaledEvent(UUID sessionId, long sequenceNr, long ordering, DeviceSession.MessageApplied event) {}

  /**
   * Applies a group of journaled events, in journal order, to their sessions' rows and attributes,
   * with the same rules as the session itself (update merges, checkpoint replaces, connection only
   * changes the link).
   *
   * <p>Three round trips per group rather than two per event: the session upserts go as one
   * batch (each statement on its own, in order); the attribute changes are then folded per session
   * (a checkpoint drops what came before it, a later value of a name replaces an earlier one) and
   * written as one batch of deletes and one multi-row upsert. The rows end as applying the events
   * one by one would leave them.
   *
   * @return how many events changed their session's row. The others were already reflected (the
   *     row's sequence number was not lower) and change nothing: exactly-once offsets make that
   *     impossible in normal operation; the guard keeps a rebuild or a manually reset offset from
   *     counting an event twice.
   */
  int applyGroup(Connection c, List<JournaledEvent> events) throws SQLException {
    if (events.isEmpty()) {
      return 0;
    }
    int[] updated;
    try (PreparedStatement ps = c.prepareStatement(UPSERT_SESSION)) {
      for (JournaledEvent journaled : events) {
        bindSessionUpsert(ps, journaled);
        ps.addBatch();
      }
      updated = ps.executeBatch();
    }
    Map<UUID, AttributeChanges> changes = new LinkedHashMap<>();
    int applied = 0;
    for (int i = 0; i < events.size(); i++) {
      if (updated[i] != 0) {
        applied++;
        foldAttributes(changes, events.get(i));
      }
    }
    writeAttributes(c, changes);
    return applied;
  }

  private static void bindSessionUpsert(PreparedStatement ps, JournaledEvent journaled) throws SQLException {
    DeviceSession.MessageApplied event = journaled.event();
    DeviceMessage message = event.message();
    Liveness.Connection connection = message.channel() == Channel.CONNECTION && !message.connected().orElse(false)
        ? Liveness.Connection.DISCONNECTED : Liveness.Connection.CONNECTED;
    boolean keepTestState = message.channel() == Channel.CONNECTION
        || (message.channel() == Channel.UPDATE && message.testState().isEmpty());
    String testState = keepTestState ? null : message.testState().map(DeviceReadSideRepository::boundedTestState)
        .orElse(null);
    Instant heardAt = Instant.ofEpochMilli(event.lineage().receivedAtMillis());
    bind(ps, journaled.sessionId(), event.raeSerial(), connection.name(), heardAt, testState, heardAt,
        event.appliedAt(), journaled.sequenceNr(), journaled.ordering(), keepTestState);
  }

  /** Adds an applied event's attribute changes to its session's: a checkpoint drops the earlier ones. */
  private static void foldAttributes(Map<UUID, AttributeChanges> changes, JournaledEvent journaled) {
    DeviceSession.MessageApplied event = journaled.event();
    DeviceMessage message = event.message();
    if (message.channel() == Channel.CONNECTION) {
      return;
    }
    AttributeChanges session = changes.computeIfAbsent(journaled.sessionId(), id -> new AttributeChanges());
    if (message.channel() == Channel.CHECKPOINT) {
      session.clearFirst = true;
      session.values.clear();
    }
    Instant reportedAt = Instant.ofEpochMilli(message.deviceTimestampMillis());
    message.attributes().forEach((name, value) ->
        session.values.put(name, new PendingAttribute(value, reportedAt, event.appliedAt())));
  }

  /** A session's attribute changes within one group: clear first (a checkpoint), then these values. */
  private static final class AttributeChanges {
    boolean clearFirst;
    final Map<String, PendingAttribute> values = new TreeMap<>();
  }

  private record PendingAttribute(JsonNode value, Instant reportedAt, Instant receivedAt) {}

  private static void writeAttributes(Connection c, Map<UUID, AttributeChanges> changes) throws SQLException {
    if (changes.values().stream().anyMatch(session -> session.clearFirst)) {
      try (PreparedStatement ps = c.prepareStatement("DELETE FROM device_session_attribute WHERE device_session_id = ?")) {
        for (Map.Entry<UUID, AttributeChanges> session : changes.entrySet()) {
          if (session.getValue().clearFirst) {
            bind(ps, session.getKey());
            ps.addBatch();
          }
        }
        ps.executeBatch();
      }
    }
    if (changes.values().stream().anyMatch(session -> !session.values.isEmpty())) {
      // (session, name) pairs are distinct here, so pgjdbc may send this as one multi-row upsert.
      try (PreparedStatement ps = c.prepareStatement(UPSERT_ATTRIBUTE)) {
        for (Map.Entry<UUID, AttributeChanges> session : changes.entrySet()) {
          for (Map.Entry<String, PendingAttribute> attribute : session.getValue().values.entrySet()) {
            PendingAttribute pending = attribute.getValue();
            bind(ps, session.getKey(), attribute.getKey(), textForm(pending.value()), jsonForm(pending.value()),
                pending.reportedAt(), pending.receivedAt());
            ps.addBatch();
          }
        }
        ps.executeBatch();
      }
    }
  }

  /**
   * The form equality filters compare: a JSON string unquoted, anything else as compact JSON;
   * null when too long to index. NUL characters, which PostgreSQL text cannot hold, become U+FFFD
   * (an event the table cannot store would stop the projection for good).
   */
  static String textForm(JsonNode value) {
    String text = value.isTextual() ? value.textValue() : value.toString();
    return text.length() > MAX_TEXT_FORM ? null : text.replace('\u0000', '\uFFFD');
  }

  /** The value as JSON for the jsonb column, which rejects the escaped NUL as well. */
  static String jsonForm(JsonNode value) {
    return value.toString().replace("\\u0000", "\\uFFFD");
  }

  /**
   * Test states longer than the column are cut rather than stopping the projection; the payload
   * contract should bound them (the full state stays in the journal and the single read).
   */
  static String boundedTestState(String state) {
    String clean = state.replace('\u0000', '\uFFFD');
    return clean.length() <= MAX_TEST_STATE ? clean : clean.substring(0, MAX_TEST_STATE);
  }

  // --- reads -----------------------------------------------------------------------------------

  /** One page of the list, with the status read in the same snapshot. */
  public DevicePage list(DeviceQuery query, Instant now) throws SQLException {
    try (Connection c = readSnapshot()) {
      Where where = where(query.filter(), now);
      DeviceSort sort = query.sort();
      String column = sort.key().column();
      String op = sort.descending() ? "<" : ">";
      if (query.after().isPresent()) {
        DeviceCursor after = query.after().get();
        UUID lastId = UUID.fromString(after.lastId());
        if (sort.key() == DeviceSortKey.DEVICE_SESSION_ID) {
          where.and("s.device_session_id " + op + " ?", lastId);
        } else {
          where.and("(" + column + ", s.device_session_id) " + op + " (?, ?)", cursorValue(sort.key(), after), lastId);
        }
      }
      String direction = sort.descending() ? " DESC" : " ASC";
      String order = sort.key() == DeviceSortKey.DEVICE_SESSION_ID
          ? " ORDER BY s.device_session_id" + direction
          : " ORDER BY " + column + direction + ", s.device_session_id" + direction;
      List<Object> params = new ArrayList<>(where.params);
      params.add(query.limit() + 1);
      List<DeviceRow> rows = new ArrayList<>();
      try (PreparedStatement ps = prepare(c, "SELECT " + SESSION_COLUMNS + " FROM device_session s"
          + where.sql() + order + " LIMIT ?", params); ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          rows.add(sessionRow(rs));
        }
      }
      Optional<DeviceCursor> next = Optional.empty();
      if (rows.size() > query.limit()) {
        rows = rows.subList(0, query.limit());
        DeviceRow last = rows.get(rows.size() - 1);
        next = Optional.of(new DeviceCursor(sort.apiName(), query.filter().fingerprint(),
            cursorText(sort.key(), last), last.deviceSessionId().toString()));
      }
      List<DeviceRow> withAttributes = withAttributes(c, rows);
      ReadSideStatus status = status(c, now);
      c.commit();
      return new DevicePage(withAttributes, next, now, status);
    }
  }

  /** Counts of the filtered sessions by test state, RAE and liveness, in one pass. */
  public DeviceStats stats(DeviceFilter filter, Instant now) throws SQLException {
    try (Connection c = readSnapshot()) {
      Where where = where(filter, now);
      List<Object> params = new ArrayList<>();
      params.add(silentBefore(now));
      params.addAll(where.params);
      String sql = "SELECT test_state, rae_serial, conn, count(*), GROUPING(test_state, rae_serial, conn) FROM ("
          + "SELECT s.test_state, s.rae_serial, " + EFFECTIVE_CONNECTION + " AS conn FROM device_session s"
          + where.sql() + ") d GROUP BY GROUPING SETS ((test_state), (rae_serial), (conn), ())";
      long total = 0;
      List<DeviceStats.Count> byState = new ArrayList<>();
      List<DeviceStats.Count> byRae = new ArrayList<>();
      List<DeviceStats.Count> byConnection = new ArrayList<>();
      try (PreparedStatement ps = prepare(c, sql, params); ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          long count = rs.getLong(4);
          // GROUPING() sets a bit for each column NOT grouped in this row: 0b011 = by test state.
          switch (rs.getInt(5)) {
            case 0b011 -> byState.add(new DeviceStats.Count(rs.getString(1), count));
            case 0b101 -> byRae.add(new DeviceStats.Count(rs.getString(2), count));
            case 0b110 -> byConnection.add(new DeviceStats.Count(rs.getString(3), count));
            case 0b111 -> total = count;
            default -> throw new IllegalStateException("unexpected grouping " + rs.getInt(5));
          }
        }
      }
      ReadSideStatus status = status(c, now);
      c.commit();
      return new DeviceStats(total, sorted(byState), sorted(byRae), sorted(byConnection), now, status);
    }
  }

  /**
   * How many sessions {@code population} covers and how many of those {@code matching} covers,
   * from one snapshot (device-state predicates compare the two). {@code matching} should be
   * {@code population} narrowed further, or the fraction means nothing.
   */
  public PopulationCount count(DeviceFilter population, DeviceFilter matching, Instant now) throws SQLException {
    try (Connection c = readSnapshot()) {
      long total = count(c, population, now);
      long matched = count(c, matching, now);
      ReadSideStatus status = status(c, now);
      c.commit();
      return new PopulationCount(total, matched, now, status);
    }
  }

  private long count(Connection c, DeviceFilter filter, Instant now) throws SQLException {
    Where where = where(filter, now);
    try (PreparedStatement ps = prepare(c, "SELECT count(*) FROM device_session s" + where.sql(), where.params);
         ResultSet rs = ps.executeQuery()) {
      rs.next();
      return rs.getLong(1);
    }
  }

  /** How far the projection is behind the journal. */
  public ReadSideStatus status(Instant now) throws SQLException {
    try (Connection c = readSnapshot()) {
      ReadSideStatus status = status(c, now);
      c.commit();
      return status;
    }
  }

  /** One session's row with its attributes, or empty if the projection has not written it. */
  public Optional<DeviceRow> find(UUID sessionId) throws SQLException {
    try (Connection c = readSnapshot()) {
      List<DeviceRow> rows = new ArrayList<>();
      try (PreparedStatement ps = prepare(c, "SELECT " + SESSION_COLUMNS
          + " FROM device_session s WHERE s.device_session_id = ?", List.of(sessionId)); ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          rows.add(sessionRow(rs));
        }
      }
      List<DeviceRow> result = withAttributes(c, rows);
      c.commit();
      return result.stream().findFirst();
    }
  }

  private ReadSideStatus status(Connection c, Instant now) throws SQLException {
    Optional<Instant> asOf = Optional.empty();
    long projected = 0;
    try (PreparedStatement ps = prepare(c, "SELECT current_offset, last_updated FROM akka_projection_offset_store "
        + "WHERE projection_name = ? AND projection_key = ?", List.of(PROJECTION_NAME, TAG));
         ResultSet rs = ps.executeQuery()) {
      if (rs.next()) {
        // A Sequence offset (the JDBC journal's ordering) is stored as its decimal text.
        projected = Long.parseLong(rs.getString(1));
        asOf = Optional.of(Instant.ofEpochMilli(rs.getLong(2)));
      }
    }
    long newest = 0;
    try (PreparedStatement ps = prepare(c, "SELECT max(event_id) FROM event_tag WHERE tag = ?", List.of(TAG));
         ResultSet rs = ps.executeQuery()) {
      if (rs.next()) {
        newest = rs.getLong(1);
      }
    }
    Duration lag = Duration.ZERO;
    if (newest > projected) {
      try (PreparedStatement ps = prepare(c, "SELECT j.write_timestamp FROM event_tag t "
          + "JOIN event_journal j ON j.ordering = t.event_id WHERE t.tag = ? AND t.event_id > ? "
          + "ORDER BY t.event_id LIMIT 1", List.of(TAG, projected)); ResultSet rs = ps.executeQuery()) {
        if (rs.next()) {
          Duration waiting = Duration.between(Instant.ofEpochMilli(rs.getLong(1)), now);
          lag = waiting.isNegative() ? Duration.ZERO : waiting;
        }
      }
    }
    return new ReadSideStatus(asOf, projected, newest, lag);
  }

  // --- SQL building ----------------------------------------------------------------------------

  /** A WHERE clause and its parameters, built only from fixed fragments. */
  private static final class Where {
    private final StringBuilder sql = new StringBuilder();
    private final List<Object> params = new ArrayList<>();

    void and(String condition, Object... values) {
      sql.append(sql.isEmpty() ? " WHERE " : " AND ").append(condition);
      params.addAll(List.of(values));
    }

    String sql() {
      return sql.toString();
    }
  }

  private Where where(DeviceFilter filter, Instant now) {
    Where where = new Where();
    filter.raeSerial().ifPresent(rae -> where.and("s.rae_serial = ?", rae));
    filter.raeSerialIn().ifPresent(raes -> where.and("s.rae_serial = ANY (?)", (Object) raes.toArray(String[]::new)));
    if (!filter.includeCanary() && !filter.raeSerial().map(io.fleetplane.config.ids.CanaryTag::isCanary).orElse(false)) {
      // Asking for a canary RAE by name includes it. The prefix has no LIKE wildcards in it; bound, not spliced, like every value.
      where.and("s.rae_serial NOT LIKE ?", io.fleetplane.config.ids.CanaryTag.RAE_PREFIX + "%");
    }
    filter.testState().ifPresent(state -> where.and("s.test_state = ?", state));
    filter.connection().ifPresent(conn -> where.and("(" + EFFECTIVE_CONNECTION + ") = ?", silentBefore(now), conn.name()));
    filter.attributes().forEach((name, value) -> where.and("EXISTS (SELECT 1 FROM device_session_attribute a "
        + "WHERE a.device_session_id = s.device_session_id AND a.name = ? AND a.value = ?)", name, value));
    return where;
  }

  /** Heard at or before this instant means silent for {@code unknownAfter} (Liveness's rule). */
  private Instant silentBefore(Instant now) {
    return now.minus(unknownAfter);
  }

  private Connection readSnapshot() throws SQLException {
    Connection c = dataSource.getConnection();
    try {
      // One snapshot for rows, attributes and status: "asOf" then describes exactly these rows.
      c.setAutoCommit(false);
      c.setTransactionIsolation(Connection.TRANSACTION_REPEATABLE_READ);
      c.setReadOnly(true);
      return c;
    } catch (SQLException e) {
      c.close();
      throw e;
    }
  }

  private PreparedStatement prepare(Connection c, String sql, List<?> params) throws SQLException {
    PreparedStatement ps = c.prepareStatement(sql);
    ps.setQueryTimeout(queryTimeoutSeconds);
    bind(ps, params.toArray());
    return ps;
  }

  private static void bind(PreparedStatement ps, Object... values) throws SQLException {
    for (int i = 0; i < values.length; i++) {
      Object value = values[i];
      if (value instanceof Instant instant) {
        // PostgreSQL keeps microseconds and would round the rest; truncating keeps stored times
        // equal to the session's own, truncated the same way.
        ps.setObject(i + 1, OffsetDateTime.ofInstant(instant.truncatedTo(ChronoUnit.MICROS), ZoneOffset.UTC));
      } else {
        ps.setObject(i + 1, value);
      }
    }
  }

  private static Object cursorValue(DeviceSortKey key, DeviceCursor cursor) {
    return switch (key.kind()) {
      case TIMESTAMP -> OffsetDateTime.ofInstant(Instant.parse(cursor.lastValue()), ZoneOffset.UTC);
      case TEXT -> cursor.lastValue();
      case ID -> UUID.fromString(cursor.lastId());
    };
  }

  private static String cursorText(DeviceSortKey key, DeviceRow row) {
    return switch (key) {
      case DEVICE_SESSION_ID -> null;
      case LAST_UPDATE_AT -> row.lastUpdateAt().toString();
      case LAST_HEARD_AT -> row.lastHeardAt().toString();
      case RAE_SERIAL -> row.raeSerial();
    };
  }

  private static DeviceRow sessionRow(ResultSet rs) throws SQLException {
    return new DeviceRow(
        rs.getObject(1, UUID.class),
        rs.getString(2),
        Optional.ofNullable(rs.getString(3)),
        Liveness.Connection.valueOf(rs.getString(4)),
        instant(rs, 5),
        instant(rs, 6),
        instant(rs, 7),
        rs.getLong(8),
        rs.getLong(9),
        Map.of());
  }

  private List<DeviceRow> withAttributes(Connection c, List<DeviceRow> rows) throws SQLException {
    if (rows.isEmpty()) {
      return rows;
    }
    Map<UUID, Map<String, DeviceRow.Attribute>> byId = new LinkedHashMap<>();
    rows.forEach(r -> byId.put(r.deviceSessionId(), new TreeMap<>()));
    try (PreparedStatement ps = c.prepareStatement("SELECT device_session_id, name, value_json::text, reported_at, "
        + "received_at FROM device_session_attribute WHERE device_session_id = ANY (?)")) {
      ps.setQueryTimeout(queryTimeoutSeconds);
      ps.setArray(1, c.createArrayOf("uuid", byId.keySet().toArray()));
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          byId.get(rs.getObject(1, UUID.class)).put(rs.getString(2),
              new DeviceRow.Attribute(json(rs.getString(3)), instant(rs, 4), instant(rs, 5)));
        }
      }
    }
    List<DeviceRow> result = new ArrayList<>(rows.size());
    for (DeviceRow r : rows) {
      result.add(new DeviceRow(r.deviceSessionId(), r.raeSerial(), r.testState(), r.reportedConnection(),
          r.connectionAsOf(), r.lastHeardAt(), r.lastUpdateAt(), r.appliedMessages(), r.journalSequenceNr(),
          java.util.Collections.unmodifiableMap(byId.get(r.deviceSessionId()))));
    }
    return result;
  }

  private JsonNode json(String text) throws SQLException {
    try {
      return mapper.readTree(text);
    } catch (JsonProcessingException e) {
      throw new SQLException("value_json holds invalid JSON: " + e.getOriginalMessage(), e);
    }
  }

  private static Instant instant(ResultSet rs, int column) throws SQLException {
    OffsetDateTime value = rs.getObject(column, OffsetDateTime.class);
    return value == null ? null : value.toInstant();
  }

  private static List<DeviceStats.Count> sorted(List<DeviceStats.Count> counts) {
    counts.sort(Comparator.comparingLong(DeviceStats.Count::count).reversed()
        .thenComparing(DeviceStats.Count::value, Comparator.nullsLast(Comparator.naturalOrder())));
    return List.copyOf(counts);
  }
}
