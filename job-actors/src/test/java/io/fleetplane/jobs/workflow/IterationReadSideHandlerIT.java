package io.fleetplane.jobs.workflow;

import static org.junit.jupiter.api.Assertions.assertEquals;

import akka.persistence.query.Sequence;
import akka.projection.eventsourced.EventEnvelope;
import com.zaxxer.hikari.HikariDataSource;
import io.fleetplane.persistence.DatabaseMigrations;
import io.fleetplane.persistence.PersistenceSettings;
import io.fleetplane.persistence.PooledJdbcSession;
import io.fleetplane.testkit.infra.PostgresEndpoint;
import io.fleetplane.testkit.infra.TestPostgres;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Timestamp;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The iterations read side's group handler against real PostgreSQL: a group is folded per
 * iteration, and replaying groups (what a crash between the rows' write and a later offset does)
 * never turns a finished iteration back to running nor moves its start time.
 */
class IterationReadSideHandlerIT {

  private static PostgresEndpoint db;
  private static HikariDataSource dataSource;
  private static final Instant T0 = Instant.parse("2026-01-01T00:00:00Z");
  private long seq;

  @BeforeAll
  static void up() {
    db = TestPostgres.newSchema();
    DatabaseMigrations.migrate(new PersistenceSettings(db.jdbcUrl(), db.user(), db.password(), 2, true,
        Duration.ofSeconds(10)));
    dataSource = new HikariDataSource();
    dataSource.setJdbcUrl(db.jdbcUrl());
    dataSource.setUsername(db.user());
    dataSource.setPassword(db.password());
    dataSource.setMaximumPoolSize(2);
  }

  @AfterAll
  static void down() {
    if (dataSource != null) {
      dataSource.close();
    }
    if (db != null) {
      TestPostgres.dropSchema(db);
    }
  }

  @Test
  void aGroupIsFoldedPerIterationAndReplayedGroupsChangeNothing() throws Exception {
    String parent = "fold-parent";
    var launch = progressed(parent, 0, 4, List.of(), List.of(), 0);
    var finishTwo = progressed(parent, 4, 5, List.of(0), List.of(2), 1);
    var finishRest = progressed(parent, 5, 5, List.of(1, 3, 4), List.of(), 2);

    // One group: 0 and 2 launch and finish inside it (one insert each), 1 and 3 stay running, 4 launches.
    apply(List.of(launch, finishTwo));
    Map<Integer, Row> rows = rows(parent);
    assertEquals(5, rows.size(), "one row per launched iteration");
    assertEquals(new Row("succeeded", at(0), at(1)), rows.get(0));
    assertEquals(new Row("failed", at(0), at(1)), rows.get(2));
    assertEquals(new Row("running", at(0), null), rows.get(1));
    assertEquals(new Row("running", at(1), null), rows.get(4));

    // The next group finishes iterations launched in an earlier group: they keep their start.
    apply(List.of(finishRest));
    rows = rows(parent);
    assertEquals(new Row("succeeded", at(0), at(2)), rows.get(1));
    assertEquals(new Row("succeeded", at(1), at(2)), rows.get(4));

    // Replays: the launch-only event alone, then everything again in one group.
    Map<Integer, Row> before = rows;
    apply(List.of(launch));
    assertEquals(before, rows(parent), "a replayed launch must not reset finished iterations");
    apply(List.of(launch, finishTwo, finishRest));
    assertEquals(before, rows(parent), "a replayed group writes the same rows");
  }

  @Test
  void aFinishWithoutItsLaunchInTheGroupStillGetsARow() throws Exception {
    // A row lost (a read side rebuilt from a later offset): the finish alone still records the iteration.
    apply(List.of(progressed("orphan-parent", 0, 0, List.of(7), List.of(), 3)));
    Row row = rows("orphan-parent").get(7);
    assertEquals("succeeded", row.state());
    assertEquals(at(3), row.finishedAt());
    assertEquals(at(3), row.startedAt());
  }

  @Test
  void eventsOtherThanProgressWriteNothing() throws Exception {
    var finished = new WorkflowInstance.InstanceFinished(io.fleetplane.jobs.workflow.domain.InstanceStatus.SUCCEEDED,
        "done", at(4));
    apply(List.of(EventEnvelope.create(Sequence.apply(++seq), "WorkflowInstance|quiet-parent", seq, finished,
        at(4).toEpochMilli())));
    assertEquals(0, rows("quiet-parent").size());
  }

  private EventEnvelope<WorkflowInstance.Event> progressed(String parent, int launchFrom, int launchTo,
      List<Integer> succeeded, List<Integer> failed, int second) {
    var event = new WorkflowInstance.IterationsProgressed("loop", 1, 5, launchFrom, launchTo, succeeded, failed,
        at(second));
    seq++;
    return EventEnvelope.create(Sequence.apply(seq), "WorkflowInstance|" + parent, seq, event,
        at(second).toEpochMilli());
  }

  private static Instant at(int second) {
    return T0.plus(second, ChronoUnit.SECONDS);
  }

  /** As the projection does: the group and a commit in one session. */
  private static void apply(List<EventEnvelope<WorkflowInstance.Event>> group) throws Exception {
    PooledJdbcSession session = new PooledJdbcSession(dataSource);
    try {
      new IterationReadSide.Handler().process(session, new ArrayList<>(group));
      session.commit();
    } finally {
      session.close();
    }
  }

  private record Row(String state, Instant startedAt, Instant finishedAt) {}

  private static Map<Integer, Row> rows(String parent) throws Exception {
    Map<Integer, Row> out = new LinkedHashMap<>();
    try (Connection c = dataSource.getConnection();
        PreparedStatement ps = c.prepareStatement("SELECT idx, state, started_at, finished_at FROM workflow_iteration"
            + " WHERE parent_instance_id = ? AND step_id = 'loop' AND attempt = 1 ORDER BY idx")) {
      ps.setString(1, parent);
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          Timestamp finished = rs.getTimestamp(4);
          out.put(rs.getInt(1), new Row(rs.getString(2), rs.getTimestamp(3).toInstant(),
              finished == null ? null : finished.toInstant()));
        }
      }
    }
    return out;
  }
}
