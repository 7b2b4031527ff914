package io.fleetplane.http.commands;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fleetplane.config.FleetplaneConfig;
import io.fleetplane.persistence.DatabaseMigrations;
import io.fleetplane.persistence.PersistenceSettings;
import io.fleetplane.testkit.infra.PostgresEndpoint;
import io.fleetplane.testkit.infra.TestPostgres;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The command store on real PostgreSQL with the real migrations: what survives the node (a second
 * store on the same database reads it), idempotent settling, request ids, and the sweep.
 */
class CommandStoreIT {

  private static final ObjectMapper JSON = new ObjectMapper();
  private static PostgresEndpoint db;
  private static PersistenceSettings persistence;
  private static CommandSettings settings;
  private static CommandStore store;

  @BeforeAll
  static void start() {
    db = TestPostgres.newSchema();
    var config = FleetplaneConfig.load(Map.of("fleetplane.persistence.jdbc-url", db.jdbcUrl(),
        "fleetplane.persistence.user", db.user(), "fleetplane.persistence.password", db.password()));
    persistence = PersistenceSettings.fromConfig(config);
    DatabaseMigrations.migrate(persistence);
    settings = CommandSettings.fromConfig(config);
    store = new CommandStore(persistence, settings, JSON);
  }

  @AfterAll
  static void stop() {
    if (store != null) {
      store.close();
    }
    if (db != null) {
      TestPostgres.dropSchema(db);
    }
  }

  private static <T> T await(CompletionStage<T> stage) throws Exception {
    return stage.toCompletableFuture().get(10, TimeUnit.SECONDS);
  }

  private static StoredCommand pending(String session, String requestId, Instant createdAt, long timeoutMs) {
    ObjectNode params = JSON.createObjectNode().put("delaySeconds", 5);
    Instant at = createdAt.truncatedTo(ChronoUnit.MILLIS);
    return new StoredCommand(UUID.randomUUID().toString(), session, "RAE-1", "reboot", params, timeoutMs,
        Optional.ofNullable(requestId), "test", StoredCommand.PENDING, at, at.plusMillis(timeoutMs), Optional.empty());
  }

  private static StoredCommand.Outcome succeeded(Instant at) {
    return new StoredCommand.Outcome("succeeded", JSON.createObjectNode().put("rebooted", true), Optional.empty(),
        Optional.empty(), "device", at.truncatedTo(ChronoUnit.MILLIS), Optional.of(42L));
  }

  @Test
  void aCommandAndItsOutcomeOutliveTheStoreThatWroteThem() throws Exception {
    StoredCommand command = pending(UUID.randomUUID().toString(), null, Instant.now(), 10_000);
    assertInstanceOf(CommandStore.Inserted.class, await(store.insert(command)));
    assertTrue(await(store.complete(command.commandId(), succeeded(Instant.now()))));

    try (CommandStore another = new CommandStore(persistence, settings, JSON)) {
      StoredCommand read = await(another.find(command.commandId())).orElseThrow();
      assertEquals("succeeded", read.status());
      assertEquals(command.params(), read.params());
      assertEquals(command.createdAt(), read.createdAt());
      StoredCommand.Outcome outcome = read.reply().orElseThrow();
      assertTrue(outcome.result().get("rebooted").asBoolean());
      assertEquals(Optional.of(42L), outcome.deviceTs());
      assertEquals("device", outcome.source());
    }
  }

  @Test
  void settlingIsIdempotentAndTheFirstOutcomeStands() throws Exception {
    StoredCommand command = pending(UUID.randomUUID().toString(), null, Instant.now(), 10_000);
    await(store.insert(command));
    StoredCommand.Outcome timedOut = new StoredCommand.Outcome("timed-out", null, Optional.of("command.timed-out"),
        Optional.of("late"), "bridge", Instant.now(), Optional.empty());
    assertTrue(await(store.complete(command.commandId(), timedOut)));
    assertFalse(await(store.complete(command.commandId(), succeeded(Instant.now()))), "a redelivered or late reply");
    assertEquals("timed-out", await(store.find(command.commandId())).orElseThrow().status());
    assertFalse(await(store.complete("not-an-api-command", timedOut)), "replies to others' commands change nothing");
  }

  @Test
  void aRepeatedRequestIdFindsTheFirstCommandOfThatSessionOnly() throws Exception {
    String session = UUID.randomUUID().toString();
    StoredCommand first = pending(session, "op-1", Instant.now(), 10_000);
    assertInstanceOf(CommandStore.Inserted.class, await(store.insert(first)));
    CommandStore.Insert again = await(store.insert(pending(session, "op-1", Instant.now(), 10_000)));
    assertEquals(first.commandId(), assertInstanceOf(CommandStore.Existing.class, again).command().commandId());
    assertInstanceOf(CommandStore.Inserted.class,
        await(store.insert(pending(UUID.randomUUID().toString(), "op-1", Instant.now(), 10_000))),
        "request ids are per session");
  }

  @Test
  void theSweepTimesOutSilentCommandsAndDeletesExpiredOnes() throws Exception {
    Instant now = Instant.now();
    StoredCommand lost = pending(UUID.randomUUID().toString(), null, now.minusSeconds(60), 1_000);
    StoredCommand fresh = pending(UUID.randomUUID().toString(), null, now, 60_000);
    StoredCommand old = pending(UUID.randomUUID().toString(), null, now.minus(Duration.ofDays(2)), 1_000);
    for (StoredCommand c : new StoredCommand[] {lost, fresh, old}) {
      await(store.insert(c));
    }

    int[] counts = await(store.sweep(Duration.ofSeconds(5), Duration.ofDays(1), now));

    // The old row is timed out and deleted in the same sweep; other tests' rows are recent.
    assertArrayEquals(new int[] {2, 1}, counts, "timed out, deleted");
    StoredCommand timedOut = await(store.find(lost.commandId())).orElseThrow();
    assertEquals("timed-out", timedOut.status());
    assertEquals("node", timedOut.reply().orElseThrow().source());
    assertEquals(Optional.of("command.timed-out"), timedOut.reply().orElseThrow().errorCode());
    assertTrue(await(store.find(fresh.commandId())).orElseThrow().pending());
    assertTrue(await(store.find(old.commandId())).isEmpty());
  }
}
