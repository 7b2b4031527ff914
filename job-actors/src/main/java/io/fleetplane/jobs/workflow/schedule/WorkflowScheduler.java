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
import io.fleetplane.jobs.workflow.schedule.ScheduleStore.FireIntent;
import io.fleetplane.jobs.workflow.schedule.ScheduleStore.FireOutcome;
import io.fleetplane.jobs.workflow.schedule.ScheduleStore.Schedule;
import io.fleetplane.jobs.workflow.schedule.domain.CatchUp;
import io.fleetplane.jobs.workflow.schedule.domain.Timing;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;

/**
 * The cluster's one scheduler (a cluster singleton, started by {@link WorkflowSchedules}): fires
 * the enabled schedules' due fire times, then starts the workflow instances they name.
 *
 * <p>Owns nothing durable itself. Each schedule's watermark in {@link ScheduleStore} says up to
 * which fire time everything is recorded (or skipped on purpose); on start (first start, restart,
 * hand-over to another node) the scheduler reads every enabled schedule and plans from its
 * watermark, so fire times missed while no scheduler ran are treated by the schedule's
 * {@link CatchUp} policy, and it re-drives every recorded fire whose instance has not started.
 *
 * <p>Firing is recording: all fire times that fall due in a tick are written as fire rows in one
 * transaction that also moves their schedules' watermarks (group commit; while one write is in
 * flight the next tick's fire times wait for the next one). The scheduler's delay is scheduled
 * time to that commit. Starting follows: 1,000 schedules due at the same second are fired in one
 * write, instead of each waiting for the starts before it (an instance start is a journal write,
 * and a 2-core node starts a few hundred a second).
 *
 * <p>Exactly once: a fire time is started with requestId {@code schedule:<id>@<time>}, from which
 * the engine derives the instance id (recorded with the fire), and the fire row's primary key makes
 * a repeated record a no-op. A crash after the record and before the start leaves the row
 * unstarted, and the next scheduler starts it; a crash after the start and before its outcome is
 * recorded repeats the start, which names the same instance: at-least-once starts, exactly-once
 * instances.
 *
 * <p>Ordering: the fire times of one schedule start one after the other, oldest first; different
 * schedules start in parallel, at most {@code parallelism} at once. A start that fails for a
 * passing reason is retried after {@code retry-backoff}; one that can never succeed (workflow
 * deleted, params no longer declared) is counted, logged and recorded with its reason.
 *
 * <p>Metric {@code fleetplane_workflows_schedule_delay}: fire time (the fire recorded) minus
 * scheduled time; {@code fleetplane_workflows_schedule_start_delay}: instance start accepted by the
 * engine minus scheduled time.
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

  private record Loaded(List<Schedule> schedules, List<ScheduleStore.Fire> unstarted) implements Command {}

  private record LoadedOne(String scheduleId, Optional<Schedule> schedule) implements Command {}

  private record LoadFailed(String what, Throwable error) implements Command {}

  private record FiresRecorded(List<FireIntent> fires, Map<String, Instant> settled, Instant firedAt,
      Throwable error) implements Command {}

  private record StartDone(String scheduleId, Instant scheduledTime, Throwable error) implements Command {}

  private record OutcomesRecorded(List<FireOutcome> outcomes, Throwable error) implements Command {}

  /** The requestId of a fire time: the engine's de-duplication key. */
  public static String requestId(String scheduleId, Instant scheduledTime) {
    return "schedule:" + scheduleId + "@" + scheduledTime;
  }

  /** Per schedule, in memory only (rebuilt from the store on every start). */
  private static final class Entry {
    Schedule schedule;
    Timing timing;
    /** Every fire time up to here has been planned (recorded or being recorded, or skipped). */
    Instant cursor;
    /** The first fire time after the cursor, null if the expression never fires again. */
    Instant nextDue;
    /** Recorded fire times not started yet, oldest first. */
    final TreeSet<Instant> pending = new TreeSet<>();
    boolean busy;
    Instant retryAt;
  }

  /** Most fire rows in one write; a bigger backlog takes several writes, one after the other. */
  private static final int MAX_FIRES_PER_WRITE = 5_000;

  private final WorkflowEngine engine;
  private final ScheduleStore store;
  private final ScheduleSettings settings;
  private final Clock clock;
  private final Map<String, Entry> entries = new HashMap<>();
  /** Schedules with pending fire times and no start in flight, in arrival order. */
  private final ArrayDeque<String> ready = new ArrayDeque<>();
  private final Set<String> readySet = new HashSet<>();
  /** Planned fire times not yet written, and watermarks to move past skipped ones. */
  private final List<FireIntent> toRecord = new ArrayList<>();
  private final Map<String, Instant> toSettle = new HashMap<>();
  private boolean recording;
  private Instant recordRetryAt;
  /** Start outcomes not yet written (losing them only repeats idempotent starts). */
  private final List<FireOutcome> outcomes = new ArrayList<>();
  private boolean recordingOutcomes;
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
        .onMessage(FiresRecorded.class, this::onFiresRecorded)
        .onMessage(StartDone.class, this::onStartDone)
        .onMessage(OutcomesRecorded.class, this::onOutcomesRecorded)
        .onMessage(Stop.class, s -> Behaviors.stopped())
        .build();
  }

  /** All enabled schedules; on the first load also the fires a previous scheduler left unstarted. */
  private void loadAll() {
    CompletionStage<List<ScheduleStore.Fire>> unstarted = loaded
        ? CompletableFuture.completedFuture(List.of()) : store.unstarted();
    getContext().pipeToSelf(store.enabled().thenCombine(unstarted, Loaded::new),
        (both, error) -> error == null ? both : new LoadFailed("enabled schedules", error));
  }

  private Behavior<Command> onLoaded(Loaded loaded) {
    Set<String> seen = new HashSet<>();
    for (Schedule s : loaded.schedules()) {
      seen.add(s.scheduleId());
      upsert(s);
    }
    entries.entrySet().removeIf(me -> {
      if (seen.contains(me.getKey()) || me.getValue().busy) {
        return false;
      }
      settleNeverStarted(me.getKey(), me.getValue());
      return true;
    });
    if (!this.loaded) {
      this.loaded = true;
      for (ScheduleStore.Fire f : loaded.unstarted()) {
        queueStart(f.scheduleId(), f.scheduledTime());
      }
      getContext().getLog().info("Scheduler running with {} enabled schedule(s), {} recorded fire(s) to start",
          entries.size(), loaded.unstarted().size());
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
        // A start in flight finishes.
        settleNeverStarted(one.scheduleId(), e);
      }
    }
    onTick();
    return this;
  }

  /** A schedule gone (disabled or deleted): its recorded fires not started will never start. */
  private void settleNeverStarted(String id, Entry e) {
    // The oldest is in flight when busy: its own outcome follows.
    for (Instant t : e.busy ? e.pending.tailSet(e.pending.first(), false) : e.pending) {
      outcomes.add(new FireOutcome(id, t, clock.instant(), "schedule disabled or deleted before the instance started"));
    }
    e.pending.clear();
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
    recordFires();
    recordOutcomes();
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
      toSettle.merge(id, plan.settledUpTo(), (a, b) -> a.isAfter(b) ? a : b);
    }
    for (Instant t : plan.fire()) {
      toRecord.add(new FireIntent(id, s.workflowId(), t, WorkflowEngine.instanceIdFor(s.workflowId(), requestId(id, t))));
    }
    e.cursor = now;
    e.nextDue = e.timing.next(now).orElse(null);
  }

  /** One write at a time: what was planned meanwhile goes into the next one. */
  private void recordFires() {
    if (recording || (toRecord.isEmpty() && toSettle.isEmpty())
        || (recordRetryAt != null && recordRetryAt.isAfter(clock.instant()))) {
      return;
    }
    recordRetryAt = null;
    List<FireIntent> batch = new ArrayList<>(toRecord.subList(0, Math.min(MAX_FIRES_PER_WRITE, toRecord.size())));
    toRecord.subList(0, batch.size()).clear();
    Map<String, Instant> settled = new HashMap<>(toSettle);
    toSettle.clear();
    recording = true;
    Instant firedAt = clock.instant();
    getContext().pipeToSelf(store.recordFires(batch, settled, firedAt),
        (ok, error) -> new FiresRecorded(batch, settled, firedAt, error));
  }

  private Behavior<Command> onFiresRecorded(FiresRecorded done) {
    recording = false;
    if (done.error() != null) {
      Metrics.increment("fleetplane_workflows_schedule_record_retried");
      getContext().getLog().warn("Could not record {} fire time(s) ({}); retrying in {}", done.fires().size(),
          done.error().toString(), settings.retryBackoff());
      toRecord.addAll(0, done.fires());
      done.settled().forEach((id, t) -> toSettle.merge(id, t, (a, b) -> a.isAfter(b) ? a : b));
      recordRetryAt = clock.instant().plus(settings.retryBackoff());
      return this;
    }
    for (FireIntent f : done.fires()) {
      Duration delay = Duration.between(f.scheduledTime(), done.firedAt());
      Metrics.recordTime("fleetplane_workflows_schedule_delay", Map.of(), delay.isNegative() ? Duration.ZERO : delay);
      Metrics.increment("fleetplane_workflows_schedule_fired");
      queueStart(f.scheduleId(), f.scheduledTime());
    }
    recordFires();
    recordOutcomes();
    dispatch();
    return this;
  }

  /** A recorded fire waits for its start, unless its schedule is gone (disabled or deleted meanwhile). */
  private void queueStart(String scheduleId, Instant scheduledTime) {
    Entry e = entries.get(scheduleId);
    if (e == null) {
      outcomes.add(new FireOutcome(scheduleId, scheduledTime, clock.instant(),
          "schedule disabled or deleted before the instance started"));
    } else {
      e.pending.add(scheduledTime);
      markReady(scheduleId, e);
    }
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
      start(id, e, e.pending.first());
    }
  }

  private void start(String id, Entry e, Instant scheduledTime) {
    e.busy = true;
    inFlight++;
    Schedule s = e.schedule;
    getContext().pipeToSelf(
        engine.startInstance(s.workflowId(), Optional.empty(), s.params(), Optional.of(requestId(id, scheduledTime))),
        (view, error) -> new StartDone(id, scheduledTime, error));
  }

  private Behavior<Command> onStartDone(StartDone done) {
    inFlight--;
    Entry e = entries.get(done.scheduleId());
    Throwable cause = done.error() instanceof CompletionException c && c.getCause() != null ? c.getCause()
        : done.error();
    Instant now = clock.instant();
    if (cause == null) {
      Duration delay = Duration.between(done.scheduledTime(), now);
      Metrics.recordTime("fleetplane_workflows_schedule_start_delay", Map.of(),
          delay.isNegative() ? Duration.ZERO : delay);
      outcomes.add(new FireOutcome(done.scheduleId(), done.scheduledTime(), now, null));
      if (e != null) {
        e.pending.remove(done.scheduledTime());
      }
    } else if (cause instanceof WorkflowEngine.WorkflowNotFoundException || cause instanceof InvalidInputException) {
      // Cannot get better by retrying: count it, record why, and let the schedule go on.
      Metrics.increment("fleetplane_workflows_schedule_fire_failed", Map.of("reason",
          cause instanceof InvalidInputException ? "invalid-params" : "workflow-not-found"));
      getContext().getLog().warn("Schedule {} could not start its instance for {}: {}", done.scheduleId(),
          done.scheduledTime(), cause.getMessage());
      outcomes.add(new FireOutcome(done.scheduleId(), done.scheduledTime(), now, cause.getMessage()));
      if (e != null) {
        e.pending.remove(done.scheduledTime());
      }
    } else if (e != null) {
      Metrics.increment("fleetplane_workflows_schedule_fire_retried");
      getContext().getLog().warn("Schedule {} start for {} failed ({}); retrying in {}", done.scheduleId(),
          done.scheduledTime(), cause.toString(), settings.retryBackoff());
      e.retryAt = now.plus(settings.retryBackoff());
    }
    if (e != null) {
      e.busy = false;
      markReady(done.scheduleId(), e);
    }
    recordOutcomes();
    dispatch();
    return this;
  }

  private void recordOutcomes() {
    if (recordingOutcomes || outcomes.isEmpty()) {
      return;
    }
    List<FireOutcome> batch = new ArrayList<>(outcomes.subList(0, Math.min(MAX_FIRES_PER_WRITE, outcomes.size())));
    outcomes.subList(0, batch.size()).clear();
    recordingOutcomes = true;
    getContext().pipeToSelf(store.recordOutcomes(batch), (ok, error) -> new OutcomesRecorded(batch, error));
  }

  private Behavior<Command> onOutcomesRecorded(OutcomesRecorded done) {
    recordingOutcomes = false;
    if (done.error() != null) {
      // Kept for the next write; if this scheduler stops first, its successor repeats these
      // (idempotent) starts.
      getContext().getLog().warn("Could not record {} start outcome(s): {}", done.outcomes().size(),
          done.error().toString());
      outcomes.addAll(0, done.outcomes());
      return this;
    }
    recordOutcomes();
    return this;
  }
}
