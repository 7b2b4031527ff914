package io.fleetplane.jobs.distribution.domain;

import java.util.ArrayDeque;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.function.Function;

/**
 * Work from many jobs, handed out round-robin between jobs: each job with queued work gets the
 * next slot in turn, so a 5-item job submitted behind a 10,000-item job waits for at most a few
 * of the big job's items per own item, not for all of them.
 *
 * <p>Keys de-duplicate: a task whose key is queued or running is not queued again (a job that
 * recovers while its items are still in the pool re-submits them; they must not run twice).
 * Thread-safe; {@link #take()} is asynchronous so a stream can pull from it without blocking.
 *
 * @param <T> the task
 */
public final class FairQueue<T> {

  private final Function<T, String> groupOf;
  private final Function<T, String> keyOf;
  private final LinkedHashMap<String, ArrayDeque<T>> queues = new LinkedHashMap<>();
  private final ArrayDeque<String> rotation = new ArrayDeque<>();
  private final Set<String> keys = new HashSet<>();
  private CompletableFuture<T> waiting;
  private int queued;

  public FairQueue(Function<T, String> groupOf, Function<T, String> keyOf) {
    this.groupOf = groupOf;
    this.keyOf = keyOf;
  }

  /** Queues the tasks whose keys are not already queued or running; returns how many were queued. */
  public int offer(List<T> tasks) {
    CompletableFuture<T> wake = null;
    T handOut = null;
    int accepted = 0;
    synchronized (this) {
      for (T task : tasks) {
        if (!keys.add(keyOf.apply(task))) {
          continue;
        }
        String group = groupOf.apply(task);
        ArrayDeque<T> queue = queues.get(group);
        if (queue == null) {
          queue = new ArrayDeque<>();
          queues.put(group, queue);
          rotation.addLast(group);
        }
        queue.addLast(task);
        queued++;
        accepted++;
      }
      if (waiting != null && queued > 0) {
        wake = waiting;
        waiting = null;
        handOut = next();
      }
    }
    if (wake != null) {
      wake.complete(handOut);
    }
    return accepted;
  }

  /** The next task in round-robin order, as soon as there is one. At most one take may wait at a time. */
  public synchronized CompletionStage<T> take() {
    if (queued > 0) {
      return CompletableFuture.completedFuture(next());
    }
    if (waiting != null) {
      throw new IllegalStateException("FairQueue supports one waiting consumer");
    }
    waiting = new CompletableFuture<>();
    return waiting;
  }

  /** A task taken earlier has ended (either way): its key may be queued again. */
  public synchronized void done(T task) {
    keys.remove(keyOf.apply(task));
  }

  /** Drops every queued task of a group (running ones finish); returns how many were dropped. */
  public synchronized int removeGroup(String group) {
    ArrayDeque<T> queue = queues.remove(group);
    if (queue == null) {
      return 0;
    }
    rotation.remove(group);
    for (T task : queue) {
      keys.remove(keyOf.apply(task));
    }
    queued -= queue.size();
    return queue.size();
  }

  public synchronized int queued() {
    return queued;
  }

  private T next() {
    String group = rotation.pollFirst();
    ArrayDeque<T> queue = queues.get(group);
    T task = queue.pollFirst();
    queued--;
    if (queue.isEmpty()) {
      queues.remove(group);
    } else {
      rotation.addLast(group);
    }
    return task;
  }
}
