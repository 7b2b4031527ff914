package io.fleetplane.http.commands;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fleetplane.bridge.command.domain.CommandId;
import io.fleetplane.bridge.command.domain.CommandReply;
import io.fleetplane.bridge.command.domain.CommandStatus;
import io.fleetplane.config.ids.DeviceSessionId;
import io.fleetplane.config.ids.RaeSerial;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.junit.jupiter.api.Test;

class ReplyWaitersTest {

  private static final Duration LONG = Duration.ofMinutes(1);

  private static CommandReply reply(String commandId) {
    return new CommandReply(new CommandId(commandId), new RaeSerial("RAE-1"), DeviceSessionId.random(), "reboot",
        CommandStatus.SUCCEEDED, null, Optional.empty(), CommandReply.Source.DEVICE, 1L, Optional.empty());
  }

  @Test
  void aReplyWakesItsWaiterAndFreesTheSlot() throws Exception {
    ReplyWaiters waiters = new ReplyWaiters(1);
    CompletableFuture<CommandReply> waiter = waiters.await("c1", LONG).orElseThrow();
    assertEquals(1, waiters.waiting());
    assertFalse(waiters.complete(reply("other")), "nobody waits for another command here");
    CommandReply reply = reply("c1");
    assertTrue(waiters.complete(reply));
    assertSame(reply, waiter.get(1, TimeUnit.SECONDS));
    assertEquals(0, waiters.waiting());
    assertTrue(waiters.await("c2", LONG).isPresent(), "the slot is free again");
  }

  @Test
  void whenFullNewCommandsAreRefusedAtOnce() {
    ReplyWaiters waiters = new ReplyWaiters(2);
    assertTrue(waiters.await("a", LONG).isPresent());
    assertTrue(waiters.await("b", LONG).isPresent());
    assertTrue(waiters.await("c", LONG).isEmpty());
    assertEquals(2, waiters.waiting());
    // Another request for a command already waited on shares its slot instead of needing one.
    assertTrue(waiters.await("a", LONG).isPresent());
  }

  @Test
  void aWaiterTimesOutAndLeaves() {
    ReplyWaiters waiters = new ReplyWaiters(1);
    CompletableFuture<CommandReply> waiter = waiters.await("slow", Duration.ofMillis(50)).orElseThrow();
    ExecutionException e = assertThrows(ExecutionException.class, () -> waiter.get(5, TimeUnit.SECONDS));
    assertInstanceOf(TimeoutException.class, e.getCause());
    io.fleetplane.testkit.Eventually.await(Duration.ofSeconds(5), () -> waiters.waiting() == 0, () -> "slot freed");
    assertFalse(waiters.complete(reply("slow")), "a late reply finds nobody");
  }

  @Test
  void twoRequestsForOneCommandBothGetTheReply() throws Exception {
    ReplyWaiters waiters = new ReplyWaiters(5);
    CompletableFuture<CommandReply> first = waiters.await("same", LONG).orElseThrow();
    CompletableFuture<CommandReply> second = waiters.await("same", LONG).orElseThrow();
    assertEquals(1, waiters.waiting());
    waiters.complete(reply("same"));
    assertEquals("same", first.get(1, TimeUnit.SECONDS).commandId().value());
    assertEquals("same", second.get(1, TimeUnit.SECONDS).commandId().value());
  }
}
