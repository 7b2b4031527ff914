package io.fleetplane.registry;

import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;

/**
 * Runs asynchronous work one at a time per key, in submission order, while work for different
 * keys runs concurrently.
 *
 * <p>Why the ingest needs it: a partition's sub-stream keeps up to {@code max-in-flight-per-partition}
 * records in flight ({@code mapAsync(n)}). Without this, two records of one session can both be
 * on their way to the session. If the first is lost on the way (its persist fails and the session
 * restarts with backoff without answering it, while the second, already queued or sent during the
 * backoff, is applied), the first's ask times out, the consumer restarts from the committed offset
 * and redelivers the first, and the session ignores it as older than what it applied: that
 * update's attributes would be lost for good. With the chain, a session's next record is handed over
 * only after the previous one was persisted, and if that one fails, every later record of the
 * session fails with it, unsent, so the restart redelivers them all in order.
 *
 * <p>Memory is bounded by the work in flight: a key is forgotten as soon as its last submitted
 * work succeeds. A key whose work failed is never forgotten, so everything submitted for it later
 * fails too: the chain belongs to one run of a sub-stream, which that failure ends. {@link #submit}
 * must be called from one thread at a time (a stream stage); completions may arrive on any thread.
 */
final class PerKeyChain<K> {

  /** Signals that work was not started because earlier work for the same key failed. */
  static final class PredecessorFailedException extends RuntimeException {
    PredecessorFailedException(Object key, Throwable cause) {
      super("earlier work for key '" + key + "' failed; not starting the work queued behind it", cause, false, false);
    }
  }

  private final Map<K, CompletableFuture<?>> tails = new ConcurrentHashMap<>();

  /**
   * Starts {@code work} when every earlier work for {@code key} has completed successfully (at once
   * if there is none); fails without starting it if one of them failed, even long before. A {@code null} key is never
   * chained.
   */
  <T> CompletionStage<T> submit(K key, Supplier<? extends CompletionStage<T>> work) {
    if (key == null) {
      return start(work);
    }
    CompletableFuture<T> result = new CompletableFuture<>();
    CompletableFuture<?> previous = tails.put(key, result);
    if (previous == null) {
      start(work).whenComplete((value, error) -> complete(result, value, error));
    } else {
      previous.whenComplete((ignored, failure) -> {
        if (failure != null) {
          Throwable cause = unwrap(failure);
          // Name the work that really failed, not the chain of work refused behind it.
          result.completeExceptionally(new PredecessorFailedException(key,
              cause instanceof PredecessorFailedException refused ? refused.getCause() : cause));
        } else {
          start(work).whenComplete((value, error) -> complete(result, value, error));
        }
      });
    }
    // Forget the key once its newest work succeeded; a newer submission keeps its own entry. A
    // failed key stays failed: work submitted after the failure completed must not overtake the
    // failed work either (the stream fails on it and a new chain starts with the restart).
    result.whenComplete((value, error) -> {
      if (error == null) {
        tails.remove(key, result);
      }
    });
    return result;
  }

  /** Keys with work in flight (for tests and metrics). */
  int keysInFlight() {
    return tails.size();
  }

  private static <T> CompletionStage<T> start(Supplier<? extends CompletionStage<T>> work) {
    try {
      return work.get();
    } catch (RuntimeException e) {
      return CompletableFuture.failedFuture(e);
    }
  }

  private static <T> void complete(CompletableFuture<T> result, T value, Throwable error) {
    if (error != null) {
      result.completeExceptionally(unwrap(error));
    } else {
      result.complete(value);
    }
  }

  private static Throwable unwrap(Throwable error) {
    return error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
  }
}
