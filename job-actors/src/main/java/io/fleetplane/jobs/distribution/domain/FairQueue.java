package io.fleetplane.jobs.distribution.domain;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.function.Function;
import java.util.function.ToIntFunction;

/**
 * Work from many jobs, handed out round-robin between jobs: each job with queued work gets the
 * next slot in turn, so a 5-item job submitted behind a 10,000-item job waits for at most a few
 * of the big job's items per own item, not for all of them.
 *
 * <p>Jobs may sit at priority levels with weights (distribution jobs: high 4, normal 2, low 1).
 * Levels with queued work share the slots by smooth weighted round-robin (each turn every such
 * level gains its weight, the one with the most credit goes and pays the sum of the weights), so
 * with all three busy, 7 consecutive slots go high, normal, high, low, high, normal, high: a
 * higher level goes first but a lower one is never starved. A level without work gives its
 * turns away and starts from zero credit when work arrives. Within a level, jobs rotate as above.
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
  private final ToIntFunction<T> levelOf;
  private final int[] weights;
  private final int[] credit;
  private final LinkedHashMap<String, ArrayDeque<T>> queues = new LinkedHashMap<>();
  private final Map<String, Integer> levelOfGroup = new HashMap<>();
  /** Per level, its groups with queued work in turn order. */
  private final List<ArrayDeque<String>> rotations = new ArrayList<>();
  private final Set<String> keys = new HashSet<>();
  private CompletableFuture<T> waiting;
  private int queued;

  /** One level: plain round-robin between groups. */
  public FairQueue(Function<T, String> groupOf, Function<T, String> keyOf) {
    this(groupOf, keyOf, t -> 0, new int[] {1});
  }

  /**
   * @param levelOf the task's level, an index into {@code weights}; a group keeps the level of
   *     its first task while it has queued work
   * @param weights slots per round of each level, each at least 1
   */
  public FairQueue(Function<T, String> groupOf, Function<T, String> keyOf, ToIntFunction<T> levelOf, int[] weights) {
    if (weights.length == 0 || Arrays.stream(weights).anyMatch(w -> w < 1)) {
      throw new IllegalArgumentException("weights must be at least 1: " + Arrays.toString(weights));
    }
    this.groupOf = groupOf;
    this.keyOf = keyOf;
    this.levelOf = levelOf;
    this.weights = weights.clone();
    this.credit = new int[weights.length];
    for (int i = 0; i < weights.length; i++) {
      rotations.add(new ArrayDeque<>());
    }
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
          int level = levelOf.applyAsInt(task);
          if (level < 0 || level >= weights.length) {
            throw new IllegalArgumentException("level " + level + " of " + group + " is not one of " + weights.length);
          }
          queue = new ArrayDeque<>();
          queues.put(group, queue);
          levelOfGroup.put(group, level);
          rotations.get(level).addLast(group);
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
    int level = levelOfGroup.remove(group);
    rotations.get(level).remove(group);
    if (rotations.get(level).isEmpty()) {
      credit[level] = 0;
    }
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
    int level = nextLevel();
    ArrayDeque<String> rotation = rotations.get(level);
    String group = rotation.pollFirst();
    ArrayDeque<T> queue = queues.get(group);
    T task = queue.pollFirst();
    queued--;
    if (queue.isEmpty()) {
      queues.remove(group);
      levelOfGroup.remove(group);
      if (rotation.isEmpty()) {
        credit[level] = 0;
      }
    } else {
      rotation.addLast(group);
    }
    return task;
  }

  /** Smooth weighted round-robin over the levels with queued work (at least one has some). */
  private int nextLevel() {
    int best = -1;
    int total = 0;
    for (int level = 0; level < weights.length; level++) {
      if (rotations.get(level).isEmpty()) {
        continue;
      }
      credit[level] += weights[level];
      total += weights[level];
      if (best < 0 || credit[level] > credit[best]) {
        best = level;
      }
    }
    credit[best] -= total;
    return best;
  }
}
