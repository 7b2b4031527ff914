package io.fleetplane.jobs.workflow;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.actor.testkit.typed.javadsl.TestProbe;
import akka.actor.typed.ActorRef;
import akka.actor.typed.Behavior;
import akka.persistence.jdbc.query.javadsl.JdbcReadJournal;
import akka.persistence.query.EventEnvelope;
import akka.persistence.query.Offset;
import akka.persistence.query.PersistenceQuery;
import akka.persistence.typed.PersistenceId;
import akka.persistence.typed.javadsl.CommandHandler;
import akka.persistence.typed.javadsl.EventHandler;
import akka.persistence.typed.javadsl.EventSourcedBehavior;
import akka.stream.javadsl.Sink;
import io.fleetplane.config.CborSerializable;
import io.fleetplane.config.metrics.Metrics;
import io.fleetplane.persistence.MultiRowInsertJournalDao;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@link MultiRowInsertJournalDao} on the real journal: many entities persisting at once (their
 * events written in shared multi-row INSERTs) get their events, tags and orderings exactly as the
 * stock DAO would store them, read back by replay and by tag; and a batch that fails writes
 * nothing of any entity in it.
 */
class MultiRowInsertJournalIT {

  private static WorkflowFixture.JournalNode node;

  @BeforeAll
  static void up() {
    node = WorkflowFixture.JournalNode.start();
  }

  @AfterAll
  static void down() throws Exception {
    node.close();
  }

  @Test
  void concurrentPersistsAreStoredWithTheirTagsAndReadBackByReplayAndByTag() throws Exception {
    int entities = 200;
    long batchesBefore = Metrics.count(MultiRowInsertJournalDao.BATCHES);
    long eventsBefore = Metrics.count(MultiRowInsertJournalDao.EVENTS);
    TestProbe<Written> probe = node.testKit().createTestProbe();

    // Each entity journals 3 events in one atomic write, then 1 more; all entities at once.
    List<ActorRef<Command>> refs = new ArrayList<>();
    for (int i = 0; i < entities; i++) {
      refs.add(node.testKit().spawn(Tagged.create("e-" + i)));
    }
    refs.forEach(ref -> ref.tell(new Write(3, probe.getRef())));
    probe.receiveSeveralMessages(entities, Duration.ofSeconds(30));
    refs.forEach(ref -> ref.tell(new Write(1, probe.getRef())));
    for (Written w : probe.receiveSeveralMessages(entities, Duration.ofSeconds(30))) {
      assertEquals(4, w.lastSequenceNr(), "sequence number of " + w.id());
    }
    long events = Metrics.count(MultiRowInsertJournalDao.EVENTS) - eventsBefore;
    long batches = Metrics.count(MultiRowInsertJournalDao.BATCHES) - batchesBefore;
    assertEquals(4L * entities, events, "every event went through the multi-row DAO");
    assertTrue(batches < events / 2, "writes shared batches: " + batches + " batches for " + events + " events");

    // Stored rows: per entity sequence numbers 1..4 with payload 1..4 in increasing ordering, and
    // exactly the entity's tags on every event.
    try (Connection c = node.db().connect(); Statement s = c.createStatement();
        ResultSet rows = s.executeQuery("SELECT j.persistence_id, j.sequence_number, j.ordering,"
            + " string_agg(t.tag, ',' ORDER BY t.tag) FROM event_journal j LEFT JOIN event_tag t ON t.event_id = j.ordering"
            + " WHERE j.persistence_id LIKE 'MultiRowTagged|e-%' GROUP BY 1, 2, 3 ORDER BY 1, 2")) {
      Map<String, Long> lastOrdering = new HashMap<>();
      int n = 0;
      while (rows.next()) {
        n++;
        String pid = rows.getString(1);
        int entity = Integer.parseInt(pid.substring(pid.indexOf("e-") + 2));
        assertEquals(expectedTags(entity), rows.getString(4), "tags of " + pid + " #" + rows.getLong(2));
        long ordering = rows.getLong(3);
        Long previous = lastOrdering.put(pid, ordering);
        assertTrue(previous == null || previous < ordering, "ordering increases with sequence number in " + pid);
      }
      assertEquals(4 * entities, n, "event rows");
    }

    // Replay: a restarted entity recovers all four events in order.
    ActorRef<Command> again = node.testKit().spawn(Tagged.create("e-7"));
    again.tell(new Write(0, probe.getRef()));
    Written replayed = probe.receiveMessage(Duration.ofSeconds(10));
    assertEquals(List.of(1, 2, 3, 4), replayed.recovered());

    // By tag, as the read side consumes them: the odd entities' events, in ordering order.
    JdbcReadJournal queries = PersistenceQuery.get(node.system()).getReadJournalFor(JdbcReadJournal.class,
        JdbcReadJournal.Identifier());
    List<EventEnvelope> odd = queries.currentEventsByTag("odd", Offset.noOffset())
        .runWith(Sink.seq(), node.system()).toCompletableFuture().get();
    assertEquals(4 * entities / 2, odd.size(), "events tagged 'odd'");
    Set<String> oddIds = new TreeSet<>();
    long lastOffset = -1;
    for (EventEnvelope e : odd) {
      long offset = ((akka.persistence.query.Sequence) e.offset()).value();
      assertTrue(offset > lastOffset, "tag query in ordering order");
      lastOffset = offset;
      assertEquals(new Added((int) e.sequenceNr()), e.event(), "payload of " + e.persistenceId() + " #" + e.sequenceNr());
      oddIds.add(e.persistenceId());
    }
    assertEquals(entities / 2, oddIds.size(), "entities in tag 'odd'");
  }

  @Test
  void aFailingBatchFailsEveryPersistInItAndStoresNothingOfThem() throws Exception {
    int others = 50;
    TestProbe<Written> probe = node.testKit().createTestProbe();
    TestProbe<Object> watcher = node.testKit().createTestProbe();
    ActorRef<Command> clash = node.testKit().spawn(Tagged.create("clash"));
    List<ActorRef<Command>> refs = new ArrayList<>();
    for (int i = 0; i < others; i++) {
      refs.add(node.testKit().spawn(Tagged.create("other-" + i)));
    }
    // Every entity recovers (nothing stored yet) before the writes.
    clash.tell(new Write(0, probe.getRef()));
    refs.forEach(ref -> ref.tell(new Write(0, probe.getRef())));
    probe.receiveSeveralMessages(others + 1, Duration.ofSeconds(10));

    // Someone else stored sequence number 1 of the clash entity meanwhile: its write collides, and
    // with it every write the journal put in the same batch.
    try (Connection c = node.db().connect(); Statement s = c.createStatement()) {
      s.executeUpdate("INSERT INTO event_journal (persistence_id, sequence_number, writer, write_timestamp,"
          + " event_ser_id, event_ser_manifest, event_payload) VALUES ('MultiRowTagged|clash', 1, 'test', 0, 0, '', '')");
    }
    refs.subList(0, others / 2).forEach(ref -> ref.tell(new Write(2, probe.getRef())));
    clash.tell(new Write(2, probe.getRef()));
    refs.subList(others / 2, others).forEach(ref -> ref.tell(new Write(2, probe.getRef())));
    watcher.expectTerminated(clash, Duration.ofSeconds(10));

    Set<String> acknowledged = new HashSet<>();
    while (true) {
      try {
        acknowledged.add(probe.receiveMessage(Duration.ofSeconds(2)).id());
      } catch (AssertionError quietFor2Seconds) {
        break;
      }
    }
    assertFalse(acknowledged.contains("clash"), "the colliding write was not acknowledged");

    // Stored exactly what was acknowledged: both events (and their tags) or nothing.
    Map<String, Integer> stored = new HashMap<>();
    int tagRows;
    try (Connection c = node.db().connect(); Statement s = c.createStatement()) {
      try (ResultSet rows = s.executeQuery("SELECT persistence_id, count(*) FROM event_journal"
          + " WHERE persistence_id LIKE 'MultiRowTagged|other-%' GROUP BY 1")) {
        while (rows.next()) {
          stored.put(rows.getString(1).substring("MultiRowTagged|".length()), rows.getInt(2));
        }
      }
      try (ResultSet rows = s.executeQuery("SELECT count(*) FROM event_tag t JOIN event_journal j"
          + " ON j.ordering = t.event_id WHERE j.persistence_id LIKE 'MultiRowTagged|other-%'")) {
        rows.next();
        tagRows = rows.getInt(1);
      }
      try (ResultSet rows = s.executeQuery(
          "SELECT count(*) FROM event_journal WHERE persistence_id = 'MultiRowTagged|clash'")) {
        rows.next();
        assertEquals(1, rows.getInt(1), "the clash entity has only the colliding row");
      }
    }
    assertEquals(acknowledged, stored.keySet(), "entities with stored events = entities acknowledged");
    int expectedTagRows = 0;
    for (Map.Entry<String, Integer> e : stored.entrySet()) {
      assertEquals(2, e.getValue(), "events stored for " + e.getKey());
      expectedTagRows += 2 * expectedTags(Integer.parseInt(e.getKey().substring("other-".length()))).split(",").length;
    }
    assertEquals(expectedTagRows, tagRows, "tag rows of the stored events");
  }

  private static String expectedTags(int entity) {
    return entity % 2 == 1 ? "all,odd" : "all";
  }

  // ------------------------------------------------------------------ a minimal tagged entity

  sealed interface Command extends CborSerializable {}

  /** Persists {@code events} events in one atomic write (0: just reply, after recovery). */
  record Write(int events, ActorRef<Written> replyTo) implements Command {}

  record Added(int n) implements CborSerializable {}

  /** {@code recovered}: the payloads held before this write. */
  record Written(String id, List<Integer> recovered, long lastSequenceNr) implements CborSerializable {}

  record Log(List<Integer> values) implements CborSerializable {}

  static final class Tagged extends EventSourcedBehavior<Command, Added, Log> {
    private final String id;
    private final int number;

    static Behavior<Command> create(String id) {
      return new Tagged(id);
    }

    private Tagged(String id) {
      super(PersistenceId.of("MultiRowTagged", id));
      this.id = id;
      int dash = id.lastIndexOf('-');
      this.number = dash < 0 ? 0 : Integer.parseInt(id.substring(dash + 1));
    }

    @Override
    public Log emptyState() {
      return new Log(List.of());
    }

    @Override
    public CommandHandler<Command, Added, Log> commandHandler() {
      return newCommandHandlerBuilder().forAnyState()
          .onCommand(Write.class, (state, w) -> {
            List<Added> events = new ArrayList<>();
            for (int i = 1; i <= w.events(); i++) {
              events.add(new Added(state.values().size() + i));
            }
            List<Integer> before = state.values();
            return Effect().persist(events).thenRun(after ->
                w.replyTo().tell(new Written(id, before, after.values().size())));
          })
          .build();
    }

    @Override
    public EventHandler<Log, Added> eventHandler() {
      return newEventHandlerBuilder().forAnyState()
          .onEvent(Added.class, (s, e) -> {
            List<Integer> values = new ArrayList<>(s.values());
            values.add(e.n());
            return new Log(List.copyOf(values));
          })
          .build();
    }

    @Override
    public Set<String> tagsFor(Added event) {
      return number % 2 == 1 ? Set.of("all", "odd") : Set.of("all");
    }
  }
}
