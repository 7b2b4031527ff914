package io.fleetplane.jobs.workflow;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.actor.testkit.typed.javadsl.TestProbe;
import akka.actor.typed.ActorRef;
import akka.actor.typed.Behavior;
import akka.actor.typed.javadsl.Behaviors;
import akka.persistence.typed.PersistenceId;
import akka.persistence.typed.javadsl.CommandHandler;
import akka.persistence.typed.javadsl.EventHandler;
import akka.persistence.typed.javadsl.EventSourcedBehavior;
import io.fleetplane.config.CborSerializable;
import io.fleetplane.config.metrics.Metrics;
import io.fleetplane.persistence.BatchedRecoveryJdbcJournal;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@link BatchedRecoveryJdbcJournal} on the real journal: entities recovering at the same time
 * (their highest-sequence-number reads batched into shared queries) each continue from their own
 * last event. A wrong answer shows: too low and the next write collides with a stored sequence
 * number (the entity stops, no reply); too high and the entity's sequence numbers skip.
 */
class BatchedRecoveryReadsIT {

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
  void entitiesRecoveringTogetherContinueFromTheirOwnHighestSequenceNumber() {
    int existing = 300;
    int fresh = 100;
    TestProbe<Appended> probe = node.testKit().createTestProbe();

    // Round 1: entity i journals (i % 4) + 1 events in one write, then stops.
    List<ActorRef<Command>> first = new ArrayList<>();
    for (int i = 0; i < existing; i++) {
      first.add(node.testKit().spawn(Counter.create("counter-" + i)));
    }
    for (int i = 0; i < existing; i++) {
      first.get(i).tell(new Append(i % 4 + 1, probe.getRef()));
    }
    Map<String, Appended> round1 = receive(probe, existing);
    for (int i = 0; i < existing; i++) {
      assertEquals(i % 4 + 1, round1.get("counter-" + i).lastSequenceNr(), "round 1 of counter-" + i);
    }
    for (ActorRef<Command> ref : first) {
      ref.tell(new Stop());
      probe.expectTerminated(ref, Duration.ofSeconds(10));
    }

    // Round 2: all of them again plus fresh ones, started at once so their recoveries overlap.
    long queriesBefore = Metrics.count(BatchedRecoveryJdbcJournal.QUERIES);
    long readsBefore = Metrics.count(BatchedRecoveryJdbcJournal.READS);
    List<ActorRef<Command>> second = new ArrayList<>();
    for (int i = 0; i < existing + fresh; i++) {
      second.add(node.testKit().spawn(Counter.create("counter-" + i)));
    }
    for (ActorRef<Command> ref : second) {
      ref.tell(new Append(1, probe.getRef()));
    }
    Map<String, Appended> round2 = receive(probe, existing + fresh);
    for (int i = 0; i < existing + fresh; i++) {
      int before = i < existing ? i % 4 + 1 : 0;
      Appended a = round2.get("counter-" + i);
      assertEquals(before, a.recovered(), "events replayed by counter-" + i);
      assertEquals(before + 1, a.lastSequenceNr(), "sequence number after recovery of counter-" + i);
    }
    long queries = Metrics.count(BatchedRecoveryJdbcJournal.QUERIES) - queriesBefore;
    long reads = Metrics.count(BatchedRecoveryJdbcJournal.READS) - readsBefore;
    assertEquals(existing + fresh, reads, "every recovery read went through the batched path");
    assertTrue(queries < reads, "overlapping recoveries shared queries: " + queries + " queries for " + reads
        + " reads");
  }

  private static Map<String, Appended> receive(TestProbe<Appended> probe, int n) {
    Map<String, Appended> out = new HashMap<>();
    for (Appended a : probe.receiveSeveralMessages(n, Duration.ofSeconds(30))) {
      out.put(a.id(), a);
    }
    assertEquals(n, out.size(), "one reply per entity");
    return out;
  }

  // ------------------------------------------------------------------ a minimal journaled entity

  sealed interface Command extends CborSerializable {}

  record Append(int events, ActorRef<Appended> replyTo) implements Command {}

  record Stop() implements Command {}

  record Added(int n) implements CborSerializable {}

  /** {@code recovered}: events replayed at start (the first command); {@code lastSequenceNr} after the append. */
  record Appended(String id, int recovered, long lastSequenceNr) implements CborSerializable {}

  record Count(int total) implements CborSerializable {}

  static final class Counter extends EventSourcedBehavior<Command, Added, Count> {
    private final String id;
    private final akka.actor.typed.javadsl.ActorContext<Command> ctx;

    static Behavior<Command> create(String id) {
      return Behaviors.setup(ctx -> new Counter(id, ctx));
    }

    private Counter(String id, akka.actor.typed.javadsl.ActorContext<Command> ctx) {
      super(PersistenceId.of("BatchedRecoveryCounter", id));
      this.id = id;
      this.ctx = ctx;
    }

    @Override
    public Count emptyState() {
      return new Count(0);
    }

    @Override
    public CommandHandler<Command, Added, Count> commandHandler() {
      return newCommandHandlerBuilder().forAnyState()
          .onCommand(Append.class, (state, c) -> {
            List<Added> events = new ArrayList<>();
            for (int i = 0; i < c.events(); i++) {
              events.add(new Added(1));
            }
            return Effect().persist(events).thenRun(s -> c.replyTo().tell(
                new Appended(id, state.total(), lastSequenceNumber(ctx))));
          })
          .onCommand(Stop.class, (state, c) -> Effect().stop())
          .build();
    }

    @Override
    public EventHandler<Count, Added> eventHandler() {
      return newEventHandlerBuilder().forAnyState()
          .onEvent(Added.class, (s, e) -> new Count(s.total() + e.n()))
          .build();
    }

    @Override
    public akka.persistence.typed.javadsl.SignalHandler<Count> signalHandler() {
      return newSignalHandlerBuilder().build();
    }
  }
}
