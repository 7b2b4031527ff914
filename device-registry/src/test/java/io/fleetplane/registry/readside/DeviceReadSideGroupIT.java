package io.fleetplane.registry.readside;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.zaxxer.hikari.HikariDataSource;
import io.fleetplane.config.ids.DeviceTopic.Channel;
import io.fleetplane.persistence.DatabaseMigrations;
import io.fleetplane.persistence.JdbcPools;
import io.fleetplane.persistence.PersistenceSettings;
import io.fleetplane.registry.DeviceSession;
import io.fleetplane.registry.domain.DeviceMessage;
import io.fleetplane.registry.domain.Lineage;
import io.fleetplane.testkit.infra.PostgresEndpoint;
import io.fleetplane.testkit.infra.TestPostgres;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@link DeviceReadSideRepository#applyGroup} on PostgreSQL, through the projection's own pool
 * (pgjdbc batch rewrite on): a group holding several events of one session leaves the rows as
 * applying the events one by one would, and a group delivered again changes nothing.
 */
class DeviceReadSideGroupIT {

  private static final ObjectMapper JSON = new ObjectMapper();

  private static PostgresEndpoint db;
  private static HikariDataSource pool;
  private static DeviceReadSideRepository repository;

  @BeforeAll
  static void start() {
    db = TestPostgres.newSchema();
    PersistenceSettings settings = new PersistenceSettings(db.jdbcUrl(), db.user(), db.password(), 2, true,
        Duration.ofSeconds(10));
    DatabaseMigrations.migrate(settings);
    pool = JdbcPools.openForProjection(settings, 2, "read-side-group-it");
    repository = new DeviceReadSideRepository(pool, JSON, Duration.ofMinutes(5), Duration.ofSeconds(10));
  }

  @AfterAll
  static void stop() {
    if (pool != null) {
      pool.close();
    }
    if (db != null) {
      TestPostgres.dropSchema(db);
    }
  }

  @Test
  void aGroupWithSeveralEventsPerSessionEndsAsAppliedOneByOne() throws Exception {
    UUID x = UUID.randomUUID();
    UUID y = UUID.randomUUID();
    List<DeviceReadSideRepository.JournaledEvent> group = List.of(
        event(x, 1, 101, Channel.UPDATE, 1000, Map.of("a", 1, "b", "x"), "in-test", null),
        event(y, 1, 102, Channel.UPDATE, 1000, Map.of("a", 1), null, null),
        event(x, 2, 103, Channel.UPDATE, 2000, Map.of("a", 2), null, null),
        event(x, 3, 104, Channel.CHECKPOINT, 3000, Map.of("c", 3), "maintenance", null),
        event(y, 2, 105, Channel.CHECKPOINT, 2000, Map.of(), null, null),
        event(x, 4, 106, Channel.UPDATE, 4000, Map.of("a", 4), null, null),
        event(x, 5, 107, Channel.CONNECTION, 5000, Map.of(), null, false));

    assertEquals(7, apply(group), "events applied");
    // The checkpoint dropped a and b; a came back with the later update; the connection changed nothing else.
    assertEquals(Map.of("a", "4@4000", "c", "3@3000"), attributes(x));
    assertEquals(Map.of(), attributes(y), "an empty checkpoint clears every attribute");
    assertEquals("5 maintenance DISCONNECTED 5", session(x));
    assertEquals("2 null CONNECTED 2", session(y));

    assertEquals(0, apply(group), "the same group again: already reflected");
    assertEquals("5 maintenance DISCONNECTED 5", session(x));
    assertEquals(Map.of("a", "4@4000", "c", "3@3000"), attributes(x));

    // Redelivered and new events in one group: only the new one counts.
    assertEquals(1, apply(List.of(
        event(x, 5, 107, Channel.CONNECTION, 5000, Map.of(), null, false),
        event(x, 6, 108, Channel.UPDATE, 6000, Map.of("b", "y"), null, null))));
    assertEquals(Map.of("a", "4@4000", "b", "y@6000", "c", "3@3000"), attributes(x));
    assertEquals("6 maintenance CONNECTED 6", session(x));
  }

  private static int apply(List<DeviceReadSideRepository.JournaledEvent> group) throws Exception {
    try (Connection c = pool.getConnection()) {
      c.setAutoCommit(false);
      int applied = repository.applyGroup(c, group);
      c.commit();
      return applied;
    }
  }

  private static DeviceReadSideRepository.JournaledEvent event(UUID session, long seqNr, long ordering,
      Channel channel, long deviceMillis, Map<String, Object> attributes, String testState, Boolean connected) {
    Map<String, JsonNode> values = new TreeMap<>();
    attributes.forEach((name, value) -> values.put(name, JSON.valueToTree(value)));
    DeviceMessage message = new DeviceMessage(channel, deviceMillis, Optional.empty(), values,
        Optional.ofNullable(testState), Optional.ofNullable(connected));
    Lineage lineage = new Lineage("fleet/rae/R1/device/" + session + "/" + channel.name().toLowerCase(), 0, ordering,
        deviceMillis + 5);
    return new DeviceReadSideRepository.JournaledEvent(session, seqNr, ordering,
        new DeviceSession.MessageApplied("R1", message, lineage, Instant.ofEpochMilli(deviceMillis + 10)));
  }

  /** name -> "value@reported millis". */
  private static Map<String, String> attributes(UUID session) throws Exception {
    Map<String, String> out = new TreeMap<>();
    try (Connection c = pool.getConnection(); PreparedStatement ps = c.prepareStatement(
        "SELECT name, value, reported_at FROM device_session_attribute WHERE device_session_id = ?")) {
      ps.setObject(1, session);
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          out.put(rs.getString(1), rs.getString(2) + "@" + rs.getTimestamp(3).toInstant().toEpochMilli());
        }
      }
    }
    return out;
  }

  /** "applied_messages test_state connection journal_sequence_number". */
  private static String session(UUID session) throws Exception {
    try (Connection c = pool.getConnection(); PreparedStatement ps = c.prepareStatement(
        "SELECT applied_messages, test_state, connection, journal_sequence_number FROM device_session"
            + " WHERE device_session_id = ?")) {
      ps.setObject(1, session);
      try (ResultSet rs = ps.executeQuery()) {
        rs.next();
        return rs.getLong(1) + " " + rs.getString(2) + " " + rs.getString(3) + " " + rs.getLong(4);
      }
    }
  }
}
