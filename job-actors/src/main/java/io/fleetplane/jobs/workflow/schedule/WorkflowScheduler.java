package io.fleetplane.jobs.workflow.schedule;

import akka.actor.typed.Behavior;
import akka.actor.typed.javadsl.AbstractBehavior;
import akka.actor.typed.javadsl.ActorContext;
import akka.actor.typed.javadsl.Behaviors;
import akka.actor.typed.javadsl.Receive;
import akka.actor.typed.javadsl.TimerScheduler;
import io.fleetplane.config.CborSerializable;
import io.fleetplane.config.InvalidInputException;
import io.fleetplane.config.metrics.Metrics;
import io.fleetplane.jobs.workflow.WorkflowEngine;
import io.fleetplane.jobs.workflow.schedule.ScheduleStore.Schedule;
import io.fleetplane.jobs.workflow.schedule.domain.CatchUp;
import io.fleetplane.jobs.workflow.schedule.domain.Timing;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletionException;

/**
 * The cluster's one scheduler (a cluster singleton, started by {@link WorkflowSchedules}): fires
 * the enabled schedules' due fire times by starting workflow instances.
 *
 * <p>Owns nothing durable itself. Each schedule's watermark in {@link ScheduleStore} says up to
 * which fire time everything is settled; on start (first start, restart, hand-over to another
 * node) the scheduler reads every enabled schedule and plans from its watermark, so fire times
 * missed while no scheduler ran are treated by the schedule's {@link CatchUp} policy.
 *
 * <p>Exactly once: a fire time is started with requestId {@code schedule:<id>@<time>}, from which
 * the engine derives the instance id, and only then is the watermark moved past it. A crash in
 * between repeats the start, which names the same instance: at-least-once firing, exactly-once
 * instances.
 *
 * <p>Ordering: the fire times of one schedule start one after the other, oldest first (so the
 * watermark never passes a fire time that has not started); different schedules start in
 * parallel, at most {@code parallelism} at once. A start that fails for a passing reason is
 * retried after {@code retry-backoff}; one that can never succeed (workflow deleted, params no
 * longer declared) is counted, logged and settled so it does not block the schedule.
 *
 * <p>Metric {@code fleetplane_workflows_schedule_delay}: fire time (the start is handed to the
 * engine) minus scheduled time.
 */
public final class WorkflowScheduler extends AbstractBehavior<WorkflowScheduler.Command> {

  /** Messages; only {@link ScheduleChanged} and {@link Stop} come from outside. */
  public sealed interface Command extends CborSerializable {}

  /** A schedule was created, changed, enabled, disabled or deleted: re-read it. No reply. */
  public record ScheduleChanged(String scheduleId) implements Command {}

  /** Singleton hand-over: stop (in-flight starts are repeated by the next scheduler if needed). */
  public record Stop() implements Command {}

  private record Tick() implements Command {}

  private record Refresh() implements Command {}

  private record Loaded(List<Schedule> schedules) implements Command {}

  private record LoadedOne(String scheduleId, Optional<Schedule> schedule) implements Command {}

  private record LoadFailed(String what, Throwable error) implements Command {}

  private record FireDone(String scheduleId, Instant scheduledTime, Throwable error) implements Command {}

  /** The requestId of a fire time: the engine's de-duplication key. */
  public static String requestId(String scheduleId, Instant scheduledTime) {
    return "schedule:" + scheduleId + "@" + scheduledTime;
  }

  /** Per schedule, in memory only (rebuilt from the store on every start). */
  private static final class Entry {
    Schedule schedule;
    Timing timing;
    /** Every fire time up to here has been planned (queued, started or skipped). */
    Instant cursor;
    /** The first fire time after the cursor, null if the expression never fires again. */
    Instant nextDue;
    final ArrayDeque<Instant> pending = new ArrayDeque<>();
    boolean busy;
    Instant retryAt;
  }

  private final WorkflowEngine engine;
  private final ScheduleStore store;
  private final ScheduleSettings settings;
  private final Clock clock;
  private final Map<String, Entry> entries = new HashMap<>();
  /** Schedules with pending fire times and no start in flight, in arrival order. */
  private final ArrayDeque<String> ready = new ArrayDeque<>();
  private final Set<String> readySet = new HashSet<>();
  private int inFlight;
  private boolean loaded;

  public static Behavior<Command> create(WorkflowEngine engine, ScheduleStore store, ScheduleSettings settings,
      Clock clock) {
    return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> new WorkflowScheduler(ctx, timers, engine, store,
        settings, clock)));
  }

  private WorkflowScheduler(ActorContext<Command> ctx, TimerScheduler<Command> timers, WorkflowEngine engine,
      ScheduleStore store, ScheduleSettings settings, Clock clock) {
    super(ctx);
    this.engine = engine;
    this.store = store;
    this.settings = settings;
    this.clock = clock;
    timers.startTimerWithFixedDelay(new Tick(), settings.tickInterval());
    timers.startTimerWithFixedDelay(new Refresh(), settings.refreshInterval());
    loadAll();
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessage(Tick.class, t -> onTick())
        .onMessage(Refresh.class, r -> {
          loadAll();
          return this;
        })
        .onMessage(Loaded.class, this::onLoaded)
        .onMessage(LoadedOne.class, this::onLoadedOne)
        .onMessage(LoadFailed.class, f -> {
          getContext().getLog().warn("Could not read schedules ({}); retrying at the next refresh", f.what(),
              f.error());
          return this;
        })
        .onMessage(ScheduleChanged.class, c -> {
          getContext().pipeToSelf(store.get(c.scheduleId()), (found, error) -> error == null
              ? new LoadedOne(c.scheduleId(), found) : new LoadFailed("schedule " + c.scheduleId(), error));
          return this;
        })
        .onMessage(FireDone.class, this::onFireDone)
        .onMessage(Stop.class, s -> Behaviors.stopped())
        .build();
  }

  private void loadAll() {
    getContext().pipeToSelf(store.enabled(), (all, error) -> error == null ? new Loaded(all)
        : new LoadFailed("enabled schedules", error));
  }

  private Behavior<Command> onLoaded(Loaded loaded) {
    Set<String> seen = new HashSet<>();
    for (Schedule s : loaded.schedules()) {
      seen.add(s.scheduleId());
      upsert(s);
    }
    entries.keySet().removeIf(id -> !seen.contains(id) && !entries.get(id).busy);
    if (!this.loaded) {
      this.loaded = true;
      getContext().getLog().info("Scheduler running with {} enabled schedule(s)", entries.size());
    }
    Metrics.gauge("fleetplane_workflows_schedules_enabled", Map.of(), entries.size());
    onTick();
    return this;
  }

  private Behavior<Command> onLoadedOne(LoadedOne one) {
    if (one.schedule().isPresent() && one.schedule().get().enabled()) {
      upsert(one.schedule().get());
    } else {
      Entry e = entries.remove(one.scheduleId());
      if (e != null) {
        // A start in flight finishes; nothing new is queued for a disabled or deleted schedule.
        e.pending.clear();
      }
    }
    onTick();
    return this;
  }

  private void upsert(Schedule s) {
    Timing timing;
    try {
      timing = Timing.parse(s.expression(), s.timeZone());
    } catch (Timing.InvalidTimingException e) {
      // Validated at creation; only a zone removed from the JDK's tz data could get here.
      getContext().getLog().error("Schedule {} no longer parses ({}); not firing it", s.scheduleId(), e.getMessage());
      return;
    }
    Entry e = entries.get(s.scheduleId());
    if (e == null) {
      e = new Entry();
      e.cursor = s.watermark();
      entries.put(s.scheduleId(), e);
    } else if (s.watermark().isAfter(e.cursor)) {
      // Re-enabled (or settled elsewhere): nothing before the new watermark is wanted.
      e.cursor = s.watermark();
      e.pending.removeIf(t -> !t.isAfter(s.watermark()));
    }
    e.schedule = s;
    e.timing = timing;
    e.nextDue = timing.next(e.cursor).orElse(null);
  }

  private Behavior<Command> onTick() {
    if (!loaded) {
      return this;
    }
    Instant now = clock.instant();
    for (Map.Entry<String, Entry> me : entries.entrySet()) {
      Entry e = me.getValue();
      if (e.nextDue != null && !e.nextDue.isAfter(now)) {
        plan(me.getKey(), e, now);
      }
      if (e.retryAt != null && !e.retryAt.isAfter(now)) {
        e.retryAt = null;
        markReady(me.getKey(), e);
      }
    }
    dispatch();
    return this;
  }

  private void plan(String id, Entry e, Instant now) {
    Schedule s = e.schedule;
    int maxCatchUp = Math.max(1, Math.min(s.maxCatchUp(), settings.maxCatchUpLimit()));
    CatchUp.Plan plan = s.catchUp().plan(e.timing, e.cursor, now, settings.misfireThreshold(), maxCatchUp, 100);
    if (plan.skippedSome()) {
      Metrics.increment("fleetplane_workflows_schedule_skipped", Map.of("policy", s.catchUp().wireName()));
      getContext().getLog().info("Schedule {} ({}) missed fire times up to {}; policy {} starts {} of the missed",
          id, s.expression(), plan.settledUpTo(), s.catchUp().wireName(),
          plan.fire().stream().filter(t -> t.isBefore(now.minus(settings.misfireThreshold()))).count());
      if (e.pending.isEmpty() && !e.busy) {
        // Only when nothing older is waiting: the watermark must not pass a fire time not started yet.
        store.settle(id, plan.settledUpTo()).exceptionally(err -> {
          getContext().getSystem().log().warn("Could not settle schedule {}: {}", id, err.toString());
          return null;
        });
      }
    }
    e.pending.addAll(plan.fire());
    e.cursor = now;
    e.nextDue = e.timing.next(now).orElse(null);
    markReady(id, e);
  }

  private void markReady(String id, Entry e) {
    if (!e.busy && e.retryAt == null && !e.pending.isEmpty() && readySet.add(id)) {
      ready.addLast(id);
    }
  }

  private void dispatch() {
    while (inFlight < settings.parallelism() && !ready.isEmpty()) {
      String id = ready.pollFirst();
      readySet.remove(id);
      Entry e = entries.get(id);
      if (e == null || e.busy || e.pending.isEmpty()) {
        continue;
      }
      fire(id, e, e.pending.peekFirst());
    }
  }

  private void fire(String id, Entry e, Instant scheduledTime) {
    e.busy = true;
    inFlight++;
    Instant firedAt = clock.instant();
    Metrics.recordTime("fleetplane_workflows_schedule_delay", Map.of(),
        Duration.between(scheduledTime, firedAt).isNegative() ? Duration.ZERO : Duration.between(scheduledTime, firedAt));
    Schedule s = e.schedule;
    getContext().pipeToSelf(
        engine.startInstance(s.workflowId(), Optional.empty(), s.params(), Optional.of(requestId(id, scheduledTime)))
            .thenCompose(view -> store.recordFire(id, scheduledTime, view.instanceId(), firedAt)),
        (ok, error) -> new FireDone(id, scheduledTime, error));
  }

  private Behavior<Command> onFireDone(FireDone done) {
    inFlight--;
    Entry e = entries.get(done.scheduleId());
    if (e == null) {
      dispatch();
      return this;
    }
    e.busy = false;
    Throwable cause = done.error() instanceof CompletionException c && c.getCause() != null ? c.getCause()
        : done.error();
    if (cause == null) {
      Metrics.increment("fleetplane_workflows_schedule_fired");
      e.pending.remove(done.scheduledTime());
    } else if (cause instanceof WorkflowEngine.WorkflowNotFoundException || cause instanceof InvalidInputException) {
      // Cannot get better by retrying: count it, settle it, and let the schedule go on.
      Metrics.increment("fleetplane_workflows_schedule_fire_failed", Map.of("reason",
          cause instanceof InvalidInputException ? "invalid-params" : "workflow-not-found"));
      getContext().getLog().warn("Schedule {} could not start {} for {}: {}", done.scheduleId(),
          e.schedule.workflowId(), done.scheduledTime(), cause.getMessage());
      e.pending.remove(done.scheduledTime());
      String id = done.scheduleId();
      store.settle(id, done.scheduledTime()).exceptionally(err -> null);
    } else {
      Metrics.increment("fleetplane_workflows_schedule_fire_retried");
      getContext().getLog().warn("Schedule {} start for {} failed ({}); retrying in {}", done.scheduleId(),
          done.scheduledTime(), cause.toString(), settings.retryBackoff());
      e.retryAt = clock.instant().plus(settings.retryBackoff());
    }
    markReady(done.scheduleId(), e);
    dispatch();
    return this;
  }
}
