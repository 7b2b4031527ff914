package io.fleetplane.jobs.workflow;

import static org.junit.jupiter.api.Assertions.assertEquals;

import akka.actor.testkit.typed.javadsl.ActorTestKit;
import akka.actor.testkit.typed.javadsl.TestProbe;
import akka.actor.typed.ActorRef;
import akka.actor.typed.javadsl.Behaviors;
import io.fleetplane.jobs.workflow.domain.StepType;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The per-node step-type limiter on its own: grants, queueing order, releases, stopped holders. */
class StepSlotsTest {

  private static ActorTestKit testKit;

  @BeforeAll
  static void up() {
    testKit = ActorTestKit.create("step-slots");
  }

  @AfterAll
  static void down() {
    testKit.shutdownTestKit();
  }

  private static ActorRef<StepSlots.Command> slots(Map<StepType, Integer> limits) {
    return testKit.spawn(StepSlots.create(limits));
  }

  @Test
  void grantsUpToTheLimitThenFirstComeFirstServedAsSlotsFree() {
    ActorRef<StepSlots.Command> slots = slots(Map.of(StepType.HTTP, 2));
    TestProbe<StepSlots.Granted> probe = testKit.createTestProbe();
    for (String key : new String[] {"a", "b", "c", "d"}) {
      slots.tell(new StepSlots.Acquire(key, StepType.HTTP, probe.getRef(), probe.getRef()));
    }
    assertEquals("a", probe.receiveMessage().key());
    assertEquals("b", probe.receiveMessage().key());
    probe.expectNoMessage(Duration.ofMillis(200));
    // Asking again for a held slot is granted again and holds no second slot.
    slots.tell(new StepSlots.Acquire("a", StepType.HTTP, probe.getRef(), probe.getRef()));
    assertEquals("a", probe.receiveMessage().key());
    slots.tell(new StepSlots.Release("b"));
    assertEquals("c", probe.receiveMessage().key());
    // A waiter that gives up is skipped: d leaves the queue, so e is next.
    slots.tell(new StepSlots.Release("d"));
    slots.tell(new StepSlots.Acquire("e", StepType.HTTP, probe.getRef(), probe.getRef()));
    probe.expectNoMessage(Duration.ofMillis(200));
    slots.tell(new StepSlots.Release("a"));
    assertEquals("e", probe.receiveMessage().key());
  }

  @Test
  void typesWithoutALimitAreGrantedAtOnceAndTypesCountSeparately() {
    ActorRef<StepSlots.Command> slots = slots(Map.of(StepType.HTTP, 1, StepType.DEVICE_COMMAND, 1));
    TestProbe<StepSlots.Granted> probe = testKit.createTestProbe();
    slots.tell(new StepSlots.Acquire("h1", StepType.HTTP, probe.getRef(), probe.getRef()));
    slots.tell(new StepSlots.Acquire("d1", StepType.DEVICE_COMMAND, probe.getRef(), probe.getRef()));
    slots.tell(new StepSlots.Acquire("s1", StepType.SIGNAL, probe.getRef(), probe.getRef()));
    slots.tell(new StepSlots.Acquire("s2", StepType.SIGNAL, probe.getRef(), probe.getRef()));
    assertEquals(java.util.Set.of("h1", "d1", "s1", "s2"), java.util.Set.of(probe.receiveMessage().key(),
        probe.receiveMessage().key(), probe.receiveMessage().key(), probe.receiveMessage().key()));
  }

  @Test
  void aHolderThatStopsFreesItsSlotsForTheNextWaiter() {
    ActorRef<StepSlots.Command> slots = slots(Map.of(StepType.HTTP, 1));
    TestProbe<StepSlots.Granted> probe = testKit.createTestProbe();
    ActorRef<Void> instance = testKit.spawn(Behaviors.empty());
    slots.tell(new StepSlots.Acquire("held", StepType.HTTP, probe.getRef(), instance));
    assertEquals("held", probe.receiveMessage().key());
    slots.tell(new StepSlots.Acquire("next", StepType.HTTP, probe.getRef(), probe.getRef()));
    probe.expectNoMessage(Duration.ofMillis(200));
    testKit.stop(instance);
    assertEquals("next", probe.receiveMessage().key());
  }
}
