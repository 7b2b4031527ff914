package io.fleetplane.bridge.command.domain;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fleetplane.bridge.command.domain.PendingCommands.Admitted;
import io.fleetplane.bridge.command.domain.PendingCommands.Duplicate;
import io.fleetplane.bridge.command.domain.PendingCommands.Outcome;
import io.fleetplane.config.ids.DeviceSessionId;
import io.fleetplane.config.ids.RaeSerial;
import java.util.List;
import org.junit.jupiter.api.Test;

class PendingCommandsTest {

  private static final RaeSerial RAE = new RaeSerial("RAE-1");
  private static final DeviceSessionId SESSION = DeviceSessionId.random();
  private static final CommandTopics.Session OWN = new CommandTopics.Session(RAE, SESSION);

  private static DeviceCommand command(String id) {
    return new DeviceCommand(new CommandId(id), RAE, SESSION, "reboot", null, 1000, 1);
  }

  @Test
  void aReplySettlesOnceAndLaterCopiesAreDuplicates() {
    PendingCommands pending = new PendingCommands(10, 10);
    assertInstanceOf(Admitted.class, pending.admit(command("a"), 100, 0));
    assertInstanceOf(PendingCommands.Matched.class, pending.matchReply(new CommandId("a"), OWN));
    assertInstanceOf(PendingCommands.AlreadyAnswered.class, pending.matchReply(new CommandId("a"), OWN));
    assertEquals(List.of(), pending.expire(1_000), "answered commands never time out");
    assertInstanceOf(PendingCommands.Unknown.class, pending.matchReply(new CommandId("zzz"), OWN));
  }

  @Test
  void theDeadlineSettlesAsTimedOutInDeadlineOrderAndLaterRepliesAreLate() {
    PendingCommands pending = new PendingCommands(10, 10);
    pending.admit(command("late"), 300, 0);
    pending.admit(command("early"), 100, 0);
    assertEquals(100, pending.nextDeadline());
    assertEquals(List.of(), pending.expire(99));
    assertEquals("early", pending.expire(100).get(0).commandId().value());
    assertEquals(1, pending.pending());
    assertEquals("late", pending.expire(1_000).get(0).commandId().value());
    PendingCommands.Late late = assertInstanceOf(PendingCommands.Late.class,
        pending.matchReply(new CommandId("early"), OWN));
    assertEquals(Outcome.TIMED_OUT, late.outcome());
  }

  @Test
  void aReplyFromAnotherSessionDoesNotSettleTheCommand() {
    PendingCommands pending = new PendingCommands(10, 10);
    pending.admit(command("a"), 100, 0);
    CommandTopics.Session other = new CommandTopics.Session(new RaeSerial("RAE-2"), SESSION);
    assertInstanceOf(PendingCommands.WrongSession.class, pending.matchReply(new CommandId("a"), other));
    assertEquals(1, pending.pending());
    assertInstanceOf(PendingCommands.Matched.class, pending.matchReply(new CommandId("a"), OWN));
  }

  @Test
  void boundedBySlotsThatAreFreedOnlyWhenTheReplyIsProduced() {
    PendingCommands pending = new PendingCommands(2, 10);
    pending.admit(command("a"), 100, 0);
    pending.admit(command("b"), 100, 0);
    assertEquals(2, assertInstanceOf(PendingCommands.Full.class, pending.admit(command("c"), 100, 0)).outstanding());
    pending.matchReply(new CommandId("a"), OWN);
    assertEquals(1, pending.pending());
    assertInstanceOf(PendingCommands.Full.class, pending.admit(command("c"), 100, 0),
        "a settled reply not yet in Kafka still holds its slot");
    pending.released();
    assertInstanceOf(Admitted.class, pending.admit(command("c"), 100, 0));
  }

  @Test
  void redeliveredCommandsAreRecognisedButAnAbandonedOneIsAdmittedAgain() {
    PendingCommands pending = new PendingCommands(10, 10);
    Admitted first = (Admitted) pending.admit(command("a"), 100, 0);
    assertTrue(assertInstanceOf(Duplicate.class, pending.admit(command("a"), 100, 0)).stillPending());
    pending.abandon(first.pending());
    assertInstanceOf(Admitted.class, pending.admit(command("a"), 100, 0), "publish failed: retry");
    pending.recordSettled(new CommandId("r"), Outcome.REJECTED);
    assertEquals(Outcome.REJECTED, assertInstanceOf(Duplicate.class, pending.admit(command("r"), 100, 0)).outcome());
  }

  @Test
  void remembersOnlyTheLastOutcomes() {
    PendingCommands pending = new PendingCommands(10, 2);
    for (String id : List.of("a", "b", "c")) {
      pending.admit(command(id), 100, 0);
      pending.matchReply(new CommandId(id), OWN);
      pending.released();
    }
    assertInstanceOf(PendingCommands.Unknown.class, pending.matchReply(new CommandId("a"), OWN));
    assertInstanceOf(PendingCommands.AlreadyAnswered.class, pending.matchReply(new CommandId("c"), OWN));
  }

  @Test
  void drainAllSettlesEverythingPending() {
    PendingCommands pending = new PendingCommands(10, 10);
    pending.admit(command("a"), 100, 0);
    pending.admit(command("b"), 200, 0);
    assertEquals(2, pending.drainAll().size());
    assertEquals(0, pending.pending());
    assertEquals(2, pending.outstanding());
  }
}
