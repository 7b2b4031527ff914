package io.fleetplane.jobs.workflow;

import akka.actor.typed.ActorRef;
import akka.actor.typed.Behavior;
import akka.actor.typed.javadsl.ActorContext;
import akka.actor.typed.javadsl.Behaviors;
import io.fleetplane.config.metrics.Metrics;
import io.fleetplane.jobs.workflow.domain.StepType;
import java.util.ArrayDeque;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.Map;
import java.util.Set;

/**
 * Per-node concurrency limits per step type ({@code fleetplane.workflows.step-type-limits}): one
 * plain actor per node counts the running steps of each limited type across every instance on
 * the node and hands out slots first come, first served.
 *
 * <p>Per node, not cluster-wide: instances are spread over the nodes by sharding, so N nodes run
 * up to N x limit at once. A cluster-wide limit would need a singleton (or a sharded counter) in
 * every step's path, one more round trip and one more thing that can be away; the limits exist to
 * protect what a node talks to (HTTP endpoints, the command bridge) from one node's burst, which
 * a per-node limit does. Not journaled: slots are held by live actors only. A holder that stops
 * (passivates, crashes, its node leaves) frees its slots, because the limiter watches it; after a
 * restart, recovery re-dispatches running steps and they ask again.
 *
 * <p>A slot is keyed by the step's idempotency key ({@code instance:step:attempt}), so asking
 * twice for the same attempt holds one slot and is granted again.
 */
final class StepSlots {

  sealed interface Command {}

  /** Replies {@link Granted} to {@code replyTo} once a slot is free (at once if one is). */
  record Acquire(String key, StepType type, ActorRef<Granted> replyTo, ActorRef<?> holder) implements Command {}

  /** Frees the slot of {@code key}, or gives up waiting for one. Unknown keys are ignored. */
  record Release(String key) implements Command {}

  private record HolderStopped(ActorRef<?> holder) implements Command {}

  record Granted(String key) {}

  /** Steps waiting for a slot of a limited type, by type (gauge). */
  static final String METRIC_WAITING = "fleetplane_workflows_step_slots_waiting";
  /** Steps that had to wait for a slot (counter, tag type). */
  static final String METRIC_QUEUED = "fleetplane_workflows_step_slots_queued";

  /** Types whose dispatch holds something outside the node; the others cannot be limited. */
  static final Set<StepType> LIMITABLE = Set.of(StepType.HTTP, StepType.DEVICE_COMMAND, StepType.SIGNAL,
      StepType.DISTRIBUTION);

  private record Waiter(String key, ActorRef<Granted> replyTo, ActorRef<?> holder) {}

  private record Held(StepType type, ActorRef<?> holder) {}

  private final ActorContext<Command> context;
  private final Map<StepType, Integer> limits;
  private final Map<StepType, Integer> inUse = new EnumMap<>(StepType.class);
  private final Map<StepType, ArrayDeque<Waiter>> waiting = new EnumMap<>(StepType.class);
  private final Map<String, Held> held = new HashMap<>();
  private final Map<ActorRef<?>, Set<String>> byHolder = new HashMap<>();

  static Behavior<Command> create(Map<StepType, Integer> limits) {
    return Behaviors.setup(ctx -> new StepSlots(ctx, limits).behavior());
  }

  private StepSlots(ActorContext<Command> context, Map<StepType, Integer> limits) {
    this.context = context;
    this.limits = Map.copyOf(limits);
  }

  private Behavior<Command> behavior() {
    return Behaviors.receive(Command.class)
        .onMessage(Acquire.class, this::onAcquire)
        .onMessage(Release.class, this::onRelease)
        .onMessage(HolderStopped.class, this::onHolderStopped)
        .build();
  }

  private Behavior<Command> onAcquire(Acquire a) {
    Integer limit = limits.get(a.type());
    if (limit == null || held.containsKey(a.key())) {
      a.replyTo().tell(new Granted(a.key()));
      return Behaviors.same();
    }
    ArrayDeque<Waiter> queue = waiting.computeIfAbsent(a.type(), t -> new ArrayDeque<>());
    if (queue.stream().anyMatch(w -> w.key().equals(a.key()))) {
      return Behaviors.same();
    }
    watch(a.holder(), a.key());
    if (inUse.getOrDefault(a.type(), 0) < limit) {
      grant(a.type(), new Waiter(a.key(), a.replyTo(), a.holder()));
    } else {
      queue.add(new Waiter(a.key(), a.replyTo(), a.holder()));
      Metrics.increment(METRIC_QUEUED, Map.of("type", a.type().yamlName()));
      Metrics.gauge(METRIC_WAITING, Map.of("type", a.type().yamlName()), queue.size());
    }
    return Behaviors.same();
  }

  private Behavior<Command> onRelease(Release r) {
    free(r.key());
    return Behaviors.same();
  }

  private Behavior<Command> onHolderStopped(HolderStopped h) {
    Set<String> keys = byHolder.remove(h.holder());
    if (keys != null) {
      new HashSet<>(keys).forEach(this::free);
    }
    return Behaviors.same();
  }

  private void free(String key) {
    Held h = held.remove(key);
    if (h != null) {
      unwatch(h.holder(), key);
      inUse.merge(h.type(), -1, Integer::sum);
      ArrayDeque<Waiter> queue = waiting.get(h.type());
      if (queue != null && !queue.isEmpty()) {
        grant(h.type(), queue.poll());
        Metrics.gauge(METRIC_WAITING, Map.of("type", h.type().yamlName()), queue.size());
      }
      return;
    }
    for (var entry : waiting.entrySet()) {
      Iterator<Waiter> it = entry.getValue().iterator();
      while (it.hasNext()) {
        Waiter w = it.next();
        if (w.key().equals(key)) {
          it.remove();
          unwatch(w.holder(), key);
          Metrics.gauge(METRIC_WAITING, Map.of("type", entry.getKey().yamlName()), entry.getValue().size());
          return;
        }
      }
    }
  }

  private void grant(StepType type, Waiter w) {
    held.put(w.key(), new Held(type, w.holder()));
    inUse.merge(type, 1, Integer::sum);
    w.replyTo().tell(new Granted(w.key()));
  }

  private void watch(ActorRef<?> holder, String key) {
    Set<String> keys = byHolder.computeIfAbsent(holder, h -> {
      context.watchWith(h, new HolderStopped(h));
      return new HashSet<>();
    });
    keys.add(key);
  }

  private void unwatch(ActorRef<?> holder, String key) {
    Set<String> keys = byHolder.get(holder);
    if (keys != null && keys.remove(key) && keys.isEmpty()) {
      byHolder.remove(holder);
      context.unwatch(holder);
    }
  }
}
