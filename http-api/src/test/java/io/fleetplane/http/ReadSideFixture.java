package io.fleetplane.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

import akka.actor.typed.ActorSystem;
import akka.cluster.sharding.typed.javadsl.ClusterSharding;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.IntNode;
import com.fasterxml.jackson.databind.node.TextNode;
import io.fleetplane.config.FleetplaneConfig;
import io.fleetplane.config.ids.DeviceTopic.Channel;
import io.fleetplane.registry.DeviceSession;
import io.fleetplane.registry.domain.DeviceMessage;
import io.fleetplane.registry.domain.Lineage;
import io.fleetplane.testkit.infra.PostgresEndpoint;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.temporal.ChronoUnit;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;

/**
 * Read-side IT plumbing: a node without Kafka or bridge (events go to the sessions by sharding
 * ask, exactly as the ingest would send them), and direct SQL to look at the projection's rows.
 */
final class ReadSideFixture {

  private ReadSideFixture() {}

  private static final AtomicLong KAFKA_OFFSET = new AtomicLong();

  static Map<String, Object> nodeConfig(PostgresEndpoint db, boolean runProjection) {
    Map<String, Object> c = new HashMap<>();
    c.put("fleetplane.persistence.jdbc-url", db.jdbcUrl());
    c.put("fleetplane.persistence.user", db.user());
    c.put("fleetplane.persistence.password", db.password());
    c.put("fleetplane.node.http.port", 0);
    c.put("fleetplane.node.run-bridge", false);
    c.put("fleetplane.node.run-registry", false);
    c.put("fleetplane.node.metrics.kamon-agent", false);
    c.put("fleetplane.registry.read-side.run-projection", runProjection);
    c.put("fleetplane.registry.read-side.metrics-interval", "300ms");
    c.put("akka.remote.artery.canonical.port", 0);
    c.put("akka.loglevel", "WARNING");
    c.put("akka.coordinated-shutdown.run-by-jvm-shutdown-hook", "off");
    // Poll the journal often: tests wait for the projection, production saves the queries.
    c.put("jdbc-read-journal.refresh-interval", "100ms");
    c.put("kamon.metric.tick-interval", "1 second");
    c.putAll(TestTokens.config());
    return c;
  }

  static FleetplaneNode start(Map<String, Object> config) {
    return FleetplaneNode.start(FleetplaneConfig.load(config));
  }

  static void stop(FleetplaneNode node) throws Exception {
    node.stop().toCompletableFuture().get(60, TimeUnit.SECONDS);
  }

  /** A message as the ingest would apply it; the Kafka offset grows with every call. */
  static DeviceSession.Applied apply(ActorSystem<?> system, String session, String rae, Channel channel,
      long ts, Map<String, JsonNode> attributes, String state, Boolean connected, long receivedAt, int partition)
      throws Exception {
    DeviceMessage message = new DeviceMessage(channel, ts, Optional.empty(), attributes, Optional.ofNullable(state),
        Optional.ofNullable(connected));
    Lineage lineage = new Lineage("fleet/rae/" + rae + "/device/" + session + "/" + channel.topicLevel(), partition,
        KAFKA_OFFSET.incrementAndGet(), receivedAt);
    DeviceSession.ApplyReply reply = ClusterSharding.get(system)
        .entityRefFor(DeviceSession.ENTITY_TYPE_KEY, session)
        .<DeviceSession.ApplyReply>ask(replyTo -> new DeviceSession.ApplyMessage(rae, message, lineage, replyTo),
            Duration.ofSeconds(10))
        .toCompletableFuture().get(15, TimeUnit.SECONDS);
    return assertInstanceOf(DeviceSession.Applied.class, reply, "applied: " + session);
  }

  static DeviceSession.Active session(ActorSystem<?> system, String session) throws Exception {
    DeviceSession.GetReply reply = ClusterSharding.get(system).entityRefFor(DeviceSession.ENTITY_TYPE_KEY, session)
        .<DeviceSession.GetReply>ask(DeviceSession.GetSession::new, Duration.ofSeconds(10))
        .toCompletableFuture().get(15, TimeUnit.SECONDS);
    return assertInstanceOf(DeviceSession.SessionFound.class, reply).session();
  }

  static JsonNode text(String value) {
    return TextNode.valueOf(value);
  }

  static JsonNode number(int value) {
    return IntNode.valueOf(value);
  }

  /** Rows and the sum of their applied-message counts, straight from the table. */
  static long[] rowCountAndAppliedSum(PostgresEndpoint db) throws Exception {
    try (Connection c = db.connect(); PreparedStatement ps = c.prepareStatement(
        "SELECT count(*), coalesce(sum(applied_messages), 0) FROM device_session"); ResultSet rs = ps.executeQuery()) {
      rs.next();
      return new long[] {rs.getLong(1), rs.getLong(2)};
    }
  }

  /** Asserts the projection's row for a session equals the session actor's own state. */
  static void assertRowMatches(PostgresEndpoint db, String session, DeviceSession.Active state) throws Exception {
    try (Connection c = db.connect()) {
      try (PreparedStatement ps = c.prepareStatement("SELECT rae_serial, test_state, connection, connection_as_of, "
          + "last_heard_at, last_update_at, applied_messages, journal_sequence_number FROM device_session "
          + "WHERE device_session_id = ?")) {
        ps.setObject(1, UUID.fromString(session));
        try (ResultSet rs = ps.executeQuery()) {
          assertEquals(true, rs.next(), "row for " + session);
          assertEquals(state.raeSerial(), rs.getString(1), "rae " + session);
          assertEquals(state.testState().orElse(null), rs.getString(2), "test state " + session);
          assertEquals(state.connection().name(), rs.getString(3), "connection " + session);
          assertEquals(micros(state.connectionAsOf()), instant(rs, 4), "connection as-of " + session);
          assertEquals(micros(state.lastHeardAt()), instant(rs, 5), "last heard " + session);
          assertEquals(micros(state.lastUpdateAt()), instant(rs, 6), "last update " + session);
          assertEquals(state.appliedMessages(), rs.getLong(7), "applied messages " + session);
          assertEquals(state.appliedMessages(), rs.getLong(8), "journal sequence number " + session);
        }
      }
      Map<String, String> expected = new TreeMap<>();
      state.attributes().forEach((name, a) -> expected.put(name, a.value() + " @" + Instant.ofEpochMilli(
          a.reportedAtDeviceMillis()) + " / " + micros(a.receivedAt())));
      Map<String, String> actual = new TreeMap<>();
      try (PreparedStatement ps = c.prepareStatement("SELECT name, value_json::text, reported_at, received_at "
          + "FROM device_session_attribute WHERE device_session_id = ?")) {
        ps.setObject(1, UUID.fromString(session));
        try (ResultSet rs = ps.executeQuery()) {
          while (rs.next()) {
            actual.put(rs.getString(1), NodeFixture.JSON.readTree(rs.getString(2)) + " @" + instant(rs, 3) + " / "
                + instant(rs, 4));
          }
        }
      }
      assertEquals(expected, actual, "attributes of " + session);
    }
  }

  static Instant micros(Instant instant) {
    return instant.truncatedTo(ChronoUnit.MICROS);
  }

  private static Instant instant(ResultSet rs, int column) throws Exception {
    return rs.getObject(column, OffsetDateTime.class).toInstant();
  }

  static long queryLong(PostgresEndpoint db, String sql) throws Exception {
    try (Connection c = db.connect(); PreparedStatement ps = c.prepareStatement(sql); ResultSet rs = ps.executeQuery()) {
      rs.next();
      return rs.getLong(1);
    }
  }

  static void await(String what, Duration timeout, BooleanSupplier condition) {
    io.fleetplane.testkit.Eventually.await(timeout, condition, () -> what);
  }

  /** A condition that may throw while the system warms up (then it is simply not met yet). */
  interface Check {
    boolean holds() throws Exception;
  }

  static BooleanSupplier quietly(Check check) {
    return () -> {
      try {
        return check.holds();
      } catch (Exception e) {
        return false;
      }
    };
  }

  /** A condition whose exception fails the test at once (a broken query is not "not yet"). */
  static BooleanSupplier failFast(Check check) {
    return () -> {
      try {
        return check.holds();
      } catch (Exception e) {
        throw new AssertionError(e);
      }
    };
  }

  /** From the journal: every workflow instance that ever started, whatever the API says. */
  static int workflowInstances(PostgresEndpoint db) throws Exception {
    return (int) queryLong(db, "SELECT COUNT(DISTINCT persistence_id) FROM event_journal"
        + " WHERE persistence_id LIKE 'WorkflowInstance|%'");
  }
}
