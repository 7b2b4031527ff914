package io.fleetplane.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fleetplane.jobs.workflow.WorkflowEngine;
import io.fleetplane.jobs.workflow.signal.WorkflowSignals;
import io.fleetplane.persistence.PersistenceSettings;
import io.fleetplane.registry.readside.DeviceQueries;
import io.fleetplane.registry.readside.DeviceReadSide;
import io.fleetplane.registry.readside.ReadSideSettings;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Clock;
import java.time.Instant;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The predicate evaluator's crash windows, driven pass by pass against real PostgreSQL and the real
 * workflow engine (read-side rows written directly; DevicePredicateSignalIT covers real ingest):
 * a crossing recorded but not published is published by the next pass; one published but not
 * marked is published again as the same signal (no second instance); two evaluators at once (a
 * singleton hand-over) record one crossing.
 */
class DevicePredicateOutboxIT {

  private static WorkflowApiFixture api;
  private static DevicePredicateStore store;
  private static DevicePredicateStore otherStore;
  private static DevicePredicates evaluator;
  private static DevicePredicates otherEvaluator;
  private static final String[] SESSIONS = {UUID.randomUUID().toString(), UUID.randomUUID().toString()};

  @BeforeAll
  static void up() throws Exception {
    api = WorkflowApiFixture.start("predicate-outbox-it", system -> {
      WorkflowEngine.start(system);
      WorkflowSignals.start(system);
      return akka.http.javadsl.server.Directives.reject(); // driven in-process, not over HTTP
    });
    PersistenceSettings db = PersistenceSettings.fromConfig(api.system.settings().config());
    var config = com.typesafe.config.ConfigFactory.parseMap(Map.of("fleetplane.registry.read-side.run-projection", false))
        .withFallback(api.system.settings().config());
    DeviceQueries queries = DeviceReadSide.start(api.system, db, ReadSideSettings.fromConfig(config)).queries();
    WorkflowSignals signals = WorkflowSignals.get(api.system);
    store = new DevicePredicateStore(db, 2);
    otherStore = new DevicePredicateStore(db, 2);
    evaluator = new DevicePredicates(store, queries, signals, Clock.systemUTC());
    otherEvaluator = new DevicePredicates(otherStore, queries, signals, Clock.systemUTC());
    WorkflowEngine.get(api.system).store().create("""
        id: on-rae-ready
        owner: it
        params: {note: none}
        steps:
          - {id: a, type: noop, params: {n: "${params.note}"}}
        """, Optional.of("it")).toCompletableFuture().get(20, TimeUnit.SECONDS);
    signals.subscribe("on-rae-ready", "rae.ready", "", Map.of()).toCompletableFuture().get(20, TimeUnit.SECONDS);
  }

  @AfterAll
  static void down() throws Exception {
    if (store != null) {
      store.close();
      otherStore.close();
    }
    if (api != null) {
      api.close();
    }
  }

  @Test
  void crossingsSurviveEveryCrashWindowAndConcurrentEvaluatorsAsExactlyOneSignalEach() throws Exception {
    for (String s : SESSIONS) {
      session(s, "RAE-OUT", "ready");
    }
    DevicePredicate.Stored p = get(store.insert(UUID.randomUUID().toString(), DevicePredicate.parse(Json.MAPPER.readTree("""
        {"name": "rae-out-ready", "signal": "rae.ready", "scope": {"raeSerial": "RAE-OUT"},
         "match": {"testState": "ready"}, "quantifier": "all", "minDevices": 2}""")), Instant.now()));
    String signal1 = DevicePredicate.signalId(p.predicateId(), 1);

    // Crash after recording crossing 1, before publishing it.
    assertTrue(get(store.markCrossed(p.predicateId(), 0, "{\"generation\":1}", Instant.now())));
    assertEquals(0, rows("SELECT count(*) FROM workflow_signal"));
    get(evaluator.evaluateAll());
    DevicePredicate.Stored after = stored(p);
    assertNull(after.pendingSignal(), "published and marked");
    assertEquals(1, after.generation(), "still holds: no new crossing");
    assertEquals(1, rows("SELECT count(*) FROM workflow_signal WHERE signal_id = '" + signal1 + "'"));
    assertEquals(1, instances());

    // Crash after publishing, before clearing the mark: the next pass publishes the same signal.
    execute("UPDATE device_state_predicate SET pending_signal = '{\"generation\":1}' WHERE predicate_id = '"
        + p.predicateId() + "'");
    get(evaluator.evaluateAll());
    assertNull(stored(p).pendingSignal());
    assertEquals(1, rows("SELECT count(*) FROM workflow_signal"));
    assertEquals(1, instances(), "a repeated signal id starts nothing");

    // Falls below: re-armed. Back above with two evaluators at once: one crossing, one signal.
    session(SESSIONS[1], "RAE-OUT", "busy");
    get(evaluator.evaluateAll());
    assertEquals(false, stored(p).satisfied());
    session(SESSIONS[1], "RAE-OUT", "ready");
    CompletableFuture.allOf(evaluator.evaluateAll().toCompletableFuture(),
        otherEvaluator.evaluateAll().toCompletableFuture()).get(30, TimeUnit.SECONDS);
    get(evaluator.evaluateAll());
    DevicePredicate.Stored crossed2 = stored(p);
    assertEquals(2, crossed2.generation(), "one crossing, whichever evaluator recorded it");
    assertTrue(crossed2.satisfied());
    assertNull(crossed2.pendingSignal());
    assertEquals(2, rows("SELECT count(*) FROM workflow_signal"));
    assertEquals(1, rows("SELECT count(*) FROM workflow_signal WHERE signal_id = '"
        + DevicePredicate.signalId(p.predicateId(), 2) + "'"));
    assertEquals(2, instances());

    // Below minDevices never holds, even with every session matching.
    execute("DELETE FROM device_session WHERE device_session_id = '" + SESSIONS[1] + "'");
    get(evaluator.evaluateAll());
    DevicePredicate.Stored tooFew = stored(p);
    assertEquals(false, tooFew.satisfied());
    assertEquals(1L, tooFew.lastTotal());
    assertEquals(1L, tooFew.lastMatching());
  }

  private static DevicePredicate.Stored stored(DevicePredicate.Stored p) throws Exception {
    Optional<DevicePredicate.Stored> s = get(store.get(p.predicateId()));
    return s.orElseThrow();
  }

  /** A read-side row as the projection would write it (the columns the predicates read). */
  private static void session(String id, String rae, String state) throws Exception {
    execute("INSERT INTO device_session (device_session_id, rae_serial, connection, test_state, last_update_at,"
        + " journal_sequence_number, connection_as_of, last_heard_at, applied_messages, journal_ordering)"
        + " VALUES ('" + id + "', '" + rae + "', 'CONNECTED', '" + state + "', now(), 1, now(), now(), 1, 1)"
        + " ON CONFLICT (device_session_id) DO UPDATE SET test_state = EXCLUDED.test_state");
  }

  private static int instances() throws Exception {
    return (int) rows("SELECT COUNT(DISTINCT persistence_id) FROM event_journal"
        + " WHERE persistence_id LIKE 'WorkflowInstance|%'");
  }

  private static long rows(String sql) throws Exception {
    try (Connection c = api.db.connect(); PreparedStatement ps = c.prepareStatement(sql); ResultSet rs = ps.executeQuery()) {
      rs.next();
      return rs.getLong(1);
    }
  }

  private static void execute(String sql) throws Exception {
    try (Connection c = api.db.connect(); PreparedStatement ps = c.prepareStatement(sql)) {
      ps.executeUpdate();
    }
  }

  private static <T> T get(java.util.concurrent.CompletionStage<T> stage) throws Exception {
    return stage.toCompletableFuture().get(30, TimeUnit.SECONDS);
  }
}
