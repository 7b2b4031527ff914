package io.fleetplane.http;

import static io.fleetplane.http.ReadSideFixture.text;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.fleetplane.config.ids.DeviceTopic.Channel;
import io.fleetplane.config.metrics.Metrics;
import io.fleetplane.registry.readside.DeviceReadSide;
import io.fleetplane.testkit.infra.PostgresEndpoint;
import io.fleetplane.testkit.infra.TestPostgres;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * Exactly-once across actor-system restarts: the projection resumes from the offset it committed
 * with its rows, so events projected before a restart are not applied again and events journaled
 * while no projection ran are applied once afterwards.
 */
class ReadSideRestartIT {

  private static long handled(String result) {
    return Metrics.count(DeviceReadSide.METRIC_EVENTS, Map.of("result", result));
  }

  @Test
  void theProjectionResumesFromItsStoredOffset() throws Exception {
    PostgresEndpoint db = TestPostgres.newSchema();
    List<String> sessions = new ArrayList<>();
    for (int i = 0; i < 10; i++) {
      sessions.add(UUID.randomUUID().toString());
    }
    long duplicatesBefore = handled("duplicate");
    try {
      // 1. A node with the projection: 20 events, all projected, then a full stop.
      long appliedBefore = handled("applied");
      FleetplaneNode first = ReadSideFixture.start(ReadSideFixture.nodeConfig(db, true));
      try {
        applyRound(first, sessions, 1);
        ReadSideFixture.await("20 events projected", Duration.ofSeconds(30),
            ReadSideFixture.quietly(() -> ReadSideFixture.rowCountAndAppliedSum(db)[1] == 20));
      } finally {
        ReadSideFixture.stop(first);
      }
      assertEquals(20, handled("applied") - appliedBefore);
      long offsetAfterFirst = offset(db);
      assertEquals(20, offsetAfterFirst);

      // 2. A node without the projection journals 20 more events: the read side stands still.
      FleetplaneNode writer = ReadSideFixture.start(ReadSideFixture.nodeConfig(db, false));
      try {
        applyRound(writer, sessions, 2);
      } finally {
        ReadSideFixture.stop(writer);
      }
      assertEquals(offsetAfterFirst, offset(db));
      assertEquals(20, ReadSideFixture.rowCountAndAppliedSum(db)[1]);

      // 3. A new actor system with the projection: only the 20 waiting events are applied.
      long appliedBeforeRestart = handled("applied");
      FleetplaneNode restarted = ReadSideFixture.start(ReadSideFixture.nodeConfig(db, true));
      try {
        ReadSideFixture.await("40 events projected", Duration.ofSeconds(30),
            ReadSideFixture.quietly(() -> ReadSideFixture.rowCountAndAppliedSum(db)[1] == 40));
        applyRound(restarted, sessions, 3);
        ReadSideFixture.await("60 events projected", Duration.ofSeconds(30),
            ReadSideFixture.quietly(() -> ReadSideFixture.rowCountAndAppliedSum(db)[1] == 60));
        assertEquals(40, handled("applied") - appliedBeforeRestart,
            "the restarted projection applied only what it had not applied before");
        assertEquals(0, handled("duplicate") - duplicatesBefore, "no event reached the handler twice");
        assertEquals(60, offset(db));
        for (String session : sessions) {
          ReadSideFixture.assertRowMatches(db, session, ReadSideFixture.session(restarted.system(), session));
        }
        assertEquals(10, ReadSideFixture.rowCountAndAppliedSum(db)[0]);
      } finally {
        ReadSideFixture.stop(restarted);
      }
    } finally {
      TestPostgres.dropSchema(db);
    }
  }

  /** Two updates per session; round r sets n=r and the device clock moves forward. */
  private static void applyRound(FleetplaneNode node, List<String> sessions, int round) throws Exception {
    long now = System.currentTimeMillis();
    for (int i = 0; i < sessions.size(); i++) {
      String rae = "RAE-R" + (i % 2);
      ReadSideFixture.apply(node.system(), sessions.get(i), rae, Channel.UPDATE, round * 1000L,
          Map.of("n", text("round-" + round)), "in-test", null, now, 0);
      ReadSideFixture.apply(node.system(), sessions.get(i), rae, Channel.UPDATE, round * 1000L + 1,
          Map.of("m", text("round-" + round)), null, null, now + 1, 0);
    }
  }

  private static long offset(PostgresEndpoint db) throws Exception {
    return ReadSideFixture.queryLong(db, "SELECT current_offset::bigint FROM akka_projection_offset_store "
        + "WHERE projection_name = 'device-read-side'");
  }
}
