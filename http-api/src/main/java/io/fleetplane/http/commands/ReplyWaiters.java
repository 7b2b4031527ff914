package io.fleetplane.http.commands;

import io.fleetplane.bridge.command.domain.CommandReply;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * HTTP requests waiting for their command's reply on this node, by command id. Bounded: beyond
 * {@code max} commands waiting, {@link #await} refuses at once (the API answers 503 with
 * Retry-After) rather than letting waiters, and their connections, pile up. A waiter is removed
 * when its reply arrives or its time is up, whichever comes first.
 */
public final class ReplyWaiters {

  private final int max;
  private final ConcurrentHashMap<String, CompletableFuture<CommandReply>> waiting = new ConcurrentHashMap<>();
  private final AtomicInteger size = new AtomicInteger();

  public ReplyWaiters(int max) {
    if (max < 1) {
      throw new IllegalArgumentException("max-waiting must be at least 1, was " + max);
    }
    this.max = max;
  }

  /**
   * Waits for the reply to {@code commandId} for at most {@code timeout}; register before the
   * command is sent, so no reply can come first. Two requests for the same command (a repeated
   * request id) share one slot and one reply.
   *
   * @return the reply, failing with {@link java.util.concurrent.TimeoutException} when none came
   *     in time; empty when {@code max} commands are waiting already
   */
  public Optional<CompletableFuture<CommandReply>> await(String commandId, Duration timeout) {
    CompletableFuture<CommandReply> existing = waiting.get(commandId);
    if (existing != null) {
      return Optional.of(existing.copy().orTimeout(timeout.toMillis(), TimeUnit.MILLISECONDS));
    }
    if (size.incrementAndGet() > max) {
      size.decrementAndGet();
      return Optional.empty();
    }
    CompletableFuture<CommandReply> mine = new CompletableFuture<>();
    existing = waiting.putIfAbsent(commandId, mine);
    if (existing != null) {
      size.decrementAndGet();
      return Optional.of(existing.copy().orTimeout(timeout.toMillis(), TimeUnit.MILLISECONDS));
    }
    mine.orTimeout(timeout.toMillis(), TimeUnit.MILLISECONDS)
        .whenComplete((reply, error) -> release(commandId, mine));
    return Optional.of(mine);
  }

  /** Hands a reply to whoever waits for it here; false when nobody does (another node's command). */
  public boolean complete(CommandReply reply) {
    CompletableFuture<CommandReply> waiter = waiting.get(reply.commandId().value());
    return waiter != null && waiter.complete(reply);
  }

  /** Gives up waiting (the command could not be sent). */
  public void cancel(String commandId) {
    CompletableFuture<CommandReply> waiter = waiting.get(commandId);
    if (waiter != null) {
      waiter.cancel(false);
    }
  }

  public int waiting() {
    return size.get();
  }

  public int max() {
    return max;
  }

  private void release(String commandId, CompletableFuture<CommandReply> waiter) {
    if (waiting.remove(commandId, waiter)) {
      size.decrementAndGet();
    }
  }
}
