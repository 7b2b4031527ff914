package io.fleetplane.jobs.workflow;

import akka.actor.typed.ActorRef;
import akka.actor.typed.Behavior;
import akka.actor.typed.javadsl.ActorContext;
import akka.actor.typed.javadsl.Behaviors;
import akka.actor.typed.javadsl.TimerScheduler;
import akka.cluster.sharding.typed.javadsl.ClusterSharding;
import akka.cluster.sharding.typed.javadsl.EntityContext;
import akka.cluster.sharding.typed.javadsl.EntityTypeKey;
import akka.pattern.StatusReply;
import akka.persistence.typed.PersistenceId;
import akka.persistence.typed.RecoveryCompleted;
import akka.persistence.typed.javadsl.CommandHandler;
import akka.persistence.typed.javadsl.Effect;
import akka.persistence.typed.javadsl.EventHandler;
import akka.persistence.typed.javadsl.EventSourcedBehavior;
import akka.persistence.typed.javadsl.RetentionCriteria;
import akka.persistence.typed.javadsl.SignalHandler;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fleetplane.config.CborSerializable;
import io.fleetplane.config.LogIds;
import io.fleetplane.config.metrics.Metrics;
import io.fleetplane.jobs.workflow.domain.DagScheduler;
import io.fleetplane.jobs.workflow.domain.DefinitionParser;
import io.fleetplane.jobs.workflow.domain.Expressions;
import io.fleetplane.jobs.workflow.domain.InstanceStatus;
import io.fleetplane.jobs.workflow.domain.StepStatus;
import io.fleetplane.jobs.workflow.domain.StepType;
import io.fleetplane.jobs.workflow.domain.WorkflowDefinition.FailureKind;
import io.fleetplane.jobs.workflow.domain.WorkflowDefinition.ForeachSpec;
import io.fleetplane.jobs.workflow.domain.WorkflowDefinition.StepDefinition;
import io.fleetplane.persistence.StaleWriteFailures;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeSet;

/**
 * One execution of a workflow DAG (or of one foreach iteration's body, or of a sub-workflow):
 * an event-sourced, sharded actor. It owns the step statuses and outputs of its DAG and a
 * timeline of every change; it starts steps when their upstream steps are done and their
 * condition holds, retries them with backoff, times them out, and runs foreach iterations and
 * sub-workflows as child instances of its own.
 *
 * <p>Ordering and crash safety: every decision is journaled before its effect (a step is
 * RUNNING in the journal before its HTTP call is made, a timer is a {@code dueAt} in the journal
 * before it is armed). On recovery the instance re-arms timers and re-dispatches running steps
 * with the same attempt number, so dispatch is at-least-once and executors de-duplicate on the
 * idempotency key {@code instanceId:stepId:attempt}; succeeded steps are never re-run.
 *
 * <p>Foreach: the parent keeps counters, a cursor and the indices currently running (at most the
 * concurrency limit), never a list of children; child ids are derived
 * ({@code parent~step~attempt~index}), so any iteration can be looked up. Completions are
 * journaled in batches, one event per batch.
 *
 * <p>Lifecycle: an instance passivates itself when it finishes (its journal stays); running
 * instances are never passivated for idleness, because their timers live in memory. Top-level
 * instances are woken after a node restart from {@code workflow_instance_active}; children are
 * woken by their parents.
 */
public final class WorkflowInstance
    extends EventSourcedBehavior<WorkflowInstance.Command, WorkflowInstance.Event, WorkflowInstance.State> {

  // ---------------------------------------------------------------------------------- commands

  public sealed interface Command extends CborSerializable {}

  /**
   * Starts the instance; starting a started instance replies with its current view (so a start
   * retried with the same request id is harmless). Replies with the instance's view.
   */
  public record Start(StartSpec spec, ActorRef<StatusReply<InstanceView>> replyTo) implements Command {}

  /** Replies with {@link InstanceFound} or {@link InstanceNotFound}. */
  public record Get(ActorRef<GetReply> replyTo) implements Command {}

  /** Cancels running and pending steps and child instances; errors when already finished. */
  public record Cancel(String reason, ActorRef<StatusReply<InstanceView>> replyTo) implements Command {}

  /**
   * Runs a failed instance again from its failed steps (each with the next attempt number);
   * succeeded steps keep their outputs and are not re-run. Errors unless the instance FAILED.
   */
  public record RestartFailed(ActorRef<StatusReply<InstanceView>> replyTo) implements Command {}

  /** Running steps finish, but nothing new starts (steps, retries, iterations); errors unless RUNNING. */
  public record Pause(ActorRef<StatusReply<InstanceView>> replyTo) implements Command {}

  /** Undoes {@link Pause}: what became ready meanwhile starts now; errors unless PAUSED. */
  public record Resume(ActorRef<StatusReply<InstanceView>> replyTo) implements Command {}

  /** Brings the instance into memory after a node restart (recovery re-dispatches its steps). */
  public record Wake(String why) implements Command {}

  /** A child instance (foreach iteration or sub-workflow) finished; sent at least once. */
  public record ChildFinished(String stepId, int attempt, int index, InstanceStatus status, String reason,
      JsonNode outputs) implements Command {
    public ChildFinished {
      outputs = absentIfNull(outputs);
    }
  }

  private record StepResult(String stepId, int attempt, boolean success, JsonNode outputs, FailureKind kind,
      String reason) implements Command {}

  private record StepTimedOut(String stepId, int attempt) implements Command {}

  private record RetryDue(String stepId, int attempt) implements Command {}

  private record SubworkflowResolved(String stepId, int attempt, StartSpec child, String error)
      implements Command {}

  private record FlushIterations(String why) implements Command {}

  /** Time to read the summary of a distribution step's job; {@code jobId} null: submit it again. */
  private record PollDistribution(String stepId, int attempt, String jobId) implements Command {}

  /** A distribution step's job as last read; {@code summary} null when the read failed ({@code error}). */
  private record DistributionRead(String stepId, int attempt, String jobId,
      io.fleetplane.jobs.distribution.DistributionJob.Summary summary, String error) implements Command {}

  private record InstanceTimedOut(String why) implements Command {}

  /** {@link StepSlots} gave the step attempt {@code key} its slot: run it now. */
  private record SlotGranted(String key) implements Command {}

  /** Where {@link WorkflowRunGate} holds this queued instance ({@code reply} null: the ask failed). */
  private record GateLocated(WorkflowRunGate.AdmitReply reply, String error) implements Command {}

  /**
   * Steps waiting on a gate check the signal history now (sent by WorkflowSignals.publish for a
   * signal of a waited-for name, and by the gate's own poll timer). No reply; harmless anytime.
   */
  public record CheckSignalGates(String why) implements Command {}

  /** A gate check's answer: {@code opened} when a signal already holds the gate; null lists on error. */
  private record SignalGateChecked(String stepId, int attempt, Optional<String> opened,
      List<io.fleetplane.jobs.workflow.signal.SignalStore.Signal> candidates, String error) implements Command {}

  /** The signal that holds the gate after a claim (this instance's or an earlier one). */
  private record SignalGateClaimed(String stepId, int attempt, String signalId, String error) implements Command {}

  private record Passivate(String why) implements Command {}

  // ------------------------------------------------------------------------------------ events

  public sealed interface Event extends CborSerializable {
    Instant at();
  }

  public record InstanceStarted(String instanceId, StartSpec spec, Instant at) implements Event {}

  /** Every step status change: the timeline. {@code dueAt} is set for waits and retries. */
  public record StepChanged(String stepId, StepStatus status, int attempt, String reason, JsonNode outputs,
      Instant dueAt, Instant at) implements Event {
    public StepChanged {
      outputs = absentIfNull(outputs);
    }
  }

  /** Jackson reads a JSON null into a JsonNode field as NullNode: no outputs is always null here. */
  static JsonNode absentIfNull(JsonNode node) {
    return node == null || node.isNull() || node.isMissingNode() ? null : node;
  }

  /**
   * Foreach progress: iterations that finished since the last event, and the cursor moved to
   * {@code launchTo} (iterations [launchFrom, launchTo) were started).
   */
  public record IterationsProgressed(String stepId, int attempt, int total, int launchFrom, int launchTo,
      List<Integer> succeeded, List<Integer> failed, Instant at) implements Event {}

  public record InstanceFinished(InstanceStatus status, String reason, Instant at) implements Event {}

  /**
   * A waiting step's gate was opened by {@code signalId}; a RUNNING change follows (the step's
   * work starts). The timeline keeps it as {@code GATE_OPENED} with reason {@code signal <id>}.
   */
  public record StepGateOpened(String stepId, int attempt, String signalId, Instant at) implements Event {}

  public record InstancePaused(Instant at) implements Event {}

  public record InstanceResumed(Instant at) implements Event {}

  /** A failed instance runs again; the failed steps follow as CREATED changes. */
  public record InstanceRestarted(String reason, Instant at) implements Event {}

  // ------------------------------------------------------------------------------------- state

  /**
   * What an instance runs, fixed at start.
   *
   * @param steps the DAG (a copy: the instance pins its definition version)
   * @param params parameter values after defaults
   * @param loopVars enclosing foreach variables (children of a foreach)
   * @param parent the parent instance and step, for children
   * @param requestId the caller's de-duplication key, if any
   * @param runTime {@code now} in expressions: the top-level instance's start time
   * @param timeout the instance's own time limit (foreach iterations have none of their own)
   * @param gated the workflow limits running instances: release the slot at the end
   * @param queued over that limit now: start PAUSED until {@link WorkflowRunGate} resumes it
   */
  public record StartSpec(String workflowId, int version, List<StepDefinition> steps, Map<String, JsonNode> params,
      Map<String, JsonNode> loopVars, Optional<ParentRef> parent, Optional<String> requestId, Instant runTime,
      Optional<Duration> timeout, boolean gated, boolean queued) implements CborSerializable {}

  /** index is the foreach iteration, or -1 for a sub-workflow. */
  public record ParentRef(String instanceId, String stepId, int attempt, int index) implements CborSerializable {}

  public sealed interface State extends CborSerializable {}

  public record Empty(String marker) implements State {}

  public record Active(String instanceId, StartSpec spec, Instant startedAt, InstanceStatus status, String reason,
      Instant finishedAt, Map<String, StepRun> steps, List<TimelineEntry> timeline) implements State {

    StepRun step(String id) {
      return steps.get(id);
    }

    Optional<StepDefinition> definition(String id) {
      return spec.steps().stream().filter(s -> s.id().equals(id)).findFirst();
    }

    Map<String, StepStatus> statuses() {
      Map<String, StepStatus> out = new HashMap<>();
      steps.forEach((k, v) -> out.put(k, v.status()));
      return out;
    }
  }

  /** A step's current run; {@code loop} only for foreach steps that started. */
  public record StepRun(StepStatus status, int attempt, String reason, JsonNode outputs, Instant startedAt,
      Instant updatedAt, Instant dueAt, Loop loop) implements CborSerializable {
    public StepRun {
      outputs = absentIfNull(outputs);
    }
  }

  /** Foreach bookkeeping: O(concurrency), whatever the number of iterations. */
  public record Loop(int total, int launched, int succeeded, int failed, List<Integer> running)
      implements CborSerializable {}

  public record TimelineEntry(Instant at, String stepId, String status, int attempt, String reason)
      implements CborSerializable {}

  // ------------------------------------------------------------------------------------ replies

  public sealed interface GetReply extends CborSerializable {}

  public record InstanceFound(InstanceView instance) implements GetReply {}

  public record InstanceNotFound(String instanceId) implements GetReply {}

  /** The instance as callers see it. */
  public record InstanceView(String instanceId, String workflowId, int version, InstanceStatus status, String reason,
      Optional<String> requestId, Optional<String> parentInstanceId, Instant startedAt, Instant finishedAt,
      Map<String, JsonNode> params, List<StepView> steps, List<TimelineEntry> timeline) implements CborSerializable {}

  public record StepView(String stepId, String type, StepStatus status, int attempt, String reason, JsonNode outputs,
      Instant startedAt, Instant updatedAt, Optional<LoopView> foreach, Optional<String> childInstanceId)
      implements CborSerializable {}

  /** {@code iterationIdPrefix + index} is each iteration's instance id. */
  public record LoopView(int total, int launched, int succeeded, int failed, List<Integer> running,
      String iterationIdPrefix) implements CborSerializable {}

  // ----------------------------------------------------------------------------- construction

  public static final EntityTypeKey<Command> ENTITY_TYPE_KEY = EntityTypeKey.create(Command.class, "WorkflowInstance");
  static final String SEPARATOR = "~";
  private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

  private final String instanceId;
  private final WorkflowEngine engine;
  private final ActorContext<Command> context;
  private final TimerScheduler<Command> timers;
  private final Optional<ActorRef<akka.cluster.sharding.typed.javadsl.ClusterSharding.ShardCommand>> shard;
  /** Evaluated foreach items by step#attempt: recomputed after recovery, never journaled. */
  private final Map<String, List<JsonNode>> itemsCache = new HashMap<>();
  /** Iteration completions received but not yet journaled (re-sent by children if lost). */
  private final Map<String, List<ChildFinished>> pending = new LinkedHashMap<>();
  private boolean flushScheduled;
  /** Consecutive failed submits/reads per distribution step#attempt (in memory: a restart starts over). */
  private final Map<String, Integer> distributionErrors = new HashMap<>();
  private static final int DISTRIBUTION_ERROR_BUDGET = 10;
  /**
   * Step attempts of limited types waiting for a node slot, key -> step id. In memory like the
   * limiter: after a restart, recovery re-dispatches them and they ask again.
   */
  private final Map<String, String> awaitingSlot = new HashMap<>();
  private final ActorRef<StepSlots.Granted> slotAdapter;

  public static void init(akka.actor.typed.ActorSystem<?> system, WorkflowEngine engine) {
    ClusterSharding.get(system).init(akka.cluster.sharding.typed.javadsl.Entity.of(ENTITY_TYPE_KEY,
            ctx -> create(ctx.getEntityId(), engine, Optional.of(ctx.getShard())))
        .withStopMessage(new Passivate("shard"))
        // Running instances hold timers in memory: never passivate them for idleness; they
        // passivate themselves when they finish.
        .withSettings(akka.cluster.sharding.typed.ClusterShardingSettings.create(system).withNoPassivationStrategy()));
  }

  public static Behavior<Command> create(String instanceId, WorkflowEngine engine,
      Optional<ActorRef<ClusterSharding.ShardCommand>> shard) {
    // Cancel, start, resume and step results persist several events in one write: when such a
    // write fails, the journal's stale per-event failure replies would stall the restarted
    // instance's stash, and every command behind them, until outside traffic arrives (an instance
    // waiting on a long timer gets none). Outside withTimers: the filter must outlive restarts.
    return Behaviors.withMdc(Command.class, Map.of(LogIds.WORKFLOW_INSTANCE_ID, instanceId),
        StaleWriteFailures.filtered(Behaviors.withTimers(timers -> Behaviors.setup(ctx ->
            new WorkflowInstance(instanceId, engine, ctx, timers, shard)))));
  }

  private WorkflowInstance(String instanceId, WorkflowEngine engine, ActorContext<Command> context,
      TimerScheduler<Command> timers, Optional<ActorRef<ClusterSharding.ShardCommand>> shard) {
    super(PersistenceId.of(ENTITY_TYPE_KEY.name(), instanceId),
        akka.actor.typed.SupervisorStrategy.restartWithBackoff(
            Duration.ofMillis(200), Duration.ofSeconds(5), 0.2));
    this.instanceId = instanceId;
    this.engine = engine;
    this.context = context;
    this.timers = timers;
    this.shard = shard;
    this.slotAdapter = context.messageAdapter(StepSlots.Granted.class, g -> new SlotGranted(g.key()));
  }

  @Override
  public State emptyState() {
    return new Empty("");
  }

  // --------------------------------------------------------------------------- command handler

  @Override
  public CommandHandler<Command, Event, State> commandHandler() {
    var builder = newCommandHandlerBuilder();
    builder.forStateType(Empty.class)
        .onCommand(Start.class, this::onFirstStart)
        .onCommand(Get.class, (s, c) -> {
          c.replyTo().tell(new InstanceNotFound(instanceId));
          return Effect().none().thenRun(x -> passivate());
        })
        .onCommand(Cancel.class, (s, c) -> {
          c.replyTo().tell(StatusReply.error("workflow instance " + instanceId + " does not exist"));
          // Passivate, not stop: a Start may be on its way (a last-only Cancel can overtake it), and
          // sharding delivers what arrives during passivation to the next incarnation; a stopped
          // entity's mailbox goes to dead letters.
          return Effect().none().thenRun(x -> passivate());
        })
        .onCommand(Passivate.class, (s, c) -> Effect().stop())
        // Nothing to run: do not stay in memory (automatic passivation is off for this type).
        .onAnyCommand((s, c) -> Effect().none().thenRun(x -> passivate()));
    builder.forStateType(Active.class)
        .onCommand(Start.class, this::onRepeatedStart)
        .onCommand(Get.class, (s, c) -> {
          c.replyTo().tell(new InstanceFound(view(s)));
          // A finished instance read by the API leaves memory again; running ones stay for their timers.
          return s.status().terminal() ? Effect().none().thenRun(x -> passivate()) : Effect().none();
        })
        .onCommand(Cancel.class, this::onCancel)
        .onCommand(RestartFailed.class, this::onRestartFailed)
        .onCommand(Pause.class, this::onPause)
        .onCommand(Resume.class, this::onResume)
        .onCommand(Wake.class, this::onWake)
        .onCommand(StepResult.class, this::onStepResult)
        .onCommand(StepTimedOut.class, this::onTimeout)
        .onCommand(RetryDue.class, this::onRetryDue)
        .onCommand(SubworkflowResolved.class, this::onSubworkflowResolved)
        .onCommand(ChildFinished.class, this::onChildFinished)
        .onCommand(FlushIterations.class, this::onFlush)
        .onCommand(PollDistribution.class, this::onPollDistribution)
        .onCommand(DistributionRead.class, this::onDistributionRead)
        .onCommand(InstanceTimedOut.class, this::onInstanceTimeout)
        .onCommand(GateLocated.class, this::onGateLocated)
        .onCommand(SlotGranted.class, this::onSlotGranted)
        .onCommand(CheckSignalGates.class, this::onCheckSignalGates)
        .onCommand(SignalGateChecked.class, this::onSignalGateChecked)
        .onCommand(SignalGateClaimed.class, this::onSignalGateClaimed)
        .onCommand(Passivate.class, (s, c) -> Effect().stop());
    return builder.build();
  }

  private Effect<Event, State> onFirstStart(Empty empty, Start start) {
    Instant now = Instant.now();
    List<Event> events = new ArrayList<>();
    events.add(new InstanceStarted(instanceId, start.spec(), now));
    Active started = (Active) apply(empty, events.get(0));
    if (start.spec().queued()) {
      // Over the workflow's running limit: wait, paused, for WorkflowRunGate to resume it.
      events.add(new InstancePaused(now));
      started = (Active) apply(started, events.get(1));
    }
    events.addAll(advance(started, now));
    Metrics.increment("fleetplane_workflows_instances_started",
        Map.of("kind", start.spec().parent().isPresent() ? "child" : "top-level"));
    return persistThenDispatch(events).thenRun(s -> start.replyTo().tell(StatusReply.success(view((Active) s))));
  }

  private Effect<Event, State> onRepeatedStart(Active s, Start start) {
    start.replyTo().tell(StatusReply.success(view(s)));
    if (s.status().terminal()) {
      // A parent asking again after its own restart: its first notice may have been lost.
      notifyParent(s);
      // A start repeated with the same requestId after the end passed the run gate again: free that slot.
      releaseSlot(s);
      return Effect().none().thenRun(x -> passivate());
    }
    return Effect().none();
  }

  private Effect<Event, State> onWake(Active s, Wake wake) {
    if (s.status().terminal()) {
      releaseSlot(s); // again: the first release may have been lost in the crash
      if (s.spec().parent().isEmpty()) {
        engine.store().markFinished(instanceId);
      }
      passivate();
    }
    return Effect().none();
  }

  private Effect<Event, State> onCancel(Active s, Cancel cancel) {
    if (s.status().terminal()) {
      cancel.replyTo().tell(StatusReply.error("workflow instance " + instanceId + " already finished: "
          + s.status()));
      return Effect().none();
    }
    Instant now = Instant.now();
    List<Event> events = new ArrayList<>();
    for (StepDefinition d : s.spec().steps()) {
      StepRun run = s.step(d.id());
      if (!run.status().terminal()) {
        events.add(new StepChanged(d.id(), StepStatus.CANCELLED, run.attempt(), cancel.reason(), null, null, now));
      }
    }
    events.add(new InstanceFinished(InstanceStatus.CANCELLED, cancel.reason(), now));
    return persistThenDispatch(events).thenRun(st -> cancel.replyTo().tell(StatusReply.success(view((Active) st))));
  }

  private Effect<Event, State> onPause(Active s, Pause p) {
    if (s.status() != InstanceStatus.RUNNING) {
      p.replyTo().tell(StatusReply.error("workflow instance " + instanceId + " is " + s.status() + ", not RUNNING"));
      return Effect().none();
    }
    return Effect().persist(new InstancePaused(Instant.now()))
        .thenRun(st -> p.replyTo().tell(StatusReply.success(view((Active) st))));
  }

  private Effect<Event, State> onResume(Active s, Resume r) {
    if (s.status() != InstanceStatus.PAUSED) {
      r.replyTo().tell(StatusReply.error("workflow instance " + instanceId + " is " + s.status() + ", not PAUSED"));
      return Effect().none();
    }
    Instant now = Instant.now();
    List<Event> events = new ArrayList<>();
    events.add(new InstanceResumed(now));
    Active resumed = (Active) apply(s, events.get(0));
    // Loops launched nothing while paused: fill their free slots.
    for (StepDefinition d : s.spec().steps()) {
      StepRun run = resumed.step(d.id());
      if (run.status() == StepStatus.RUNNING && run.loop() != null) {
        Loop loop = run.loop();
        int launchTo = Math.min(loop.total(), loop.launched()
            + (d.foreach().orElseThrow().concurrency() - loop.running().size()));
        if (launchTo > loop.launched()) {
          Event e = new IterationsProgressed(d.id(), run.attempt(), loop.total(), loop.launched(), launchTo,
              List.of(), List.of(), now);
          events.add(e);
          resumed = (Active) apply(resumed, e);
        }
      }
    }
    events.addAll(advance(resumed, now));
    return persistThenDispatch(events).thenRun(st -> {
      // Retries that fell due while paused were dropped; arm them again.
      Active a = (Active) st;
      a.steps().forEach((id, run) -> {
        if (run.status() == StepStatus.RETRYING) {
          armRetry(id, run);
        }
      });
      r.replyTo().tell(StatusReply.success(view(a)));
    });
  }

  private Effect<Event, State> onRestartFailed(Active s, RestartFailed r) {
    if (s.status() != InstanceStatus.FAILED) {
      r.replyTo().tell(StatusReply.error("workflow instance " + instanceId + " is " + s.status()
          + "; only a FAILED instance restarts from its failed steps"));
      return Effect().none();
    }
    Instant now = Instant.now();
    List<Event> events = new ArrayList<>();
    events.add(new InstanceRestarted("restart from failed steps", now));
    for (StepDefinition d : s.spec().steps()) {
      StepRun run = s.step(d.id());
      if (run.status().terminal() && !run.status().done()) {
        // Back to CREATED with its attempt kept: the next run is attempt + 1, a new idempotency key.
        events.add(new StepChanged(d.id(), StepStatus.CREATED, run.attempt(), "restart from failed steps", null, null,
            now));
      }
    }
    return persistAndAdvance(s, events, now)
        .thenRun(st -> r.replyTo().tell(StatusReply.success(view((Active) st))));
  }

  /** Over the instance's time limit: what has not finished is cancelled and the instance fails. */
  private Effect<Event, State> onInstanceTimeout(Active s, InstanceTimedOut t) {
    if (s.status().terminal()) {
      return Effect().none();
    }
    Instant now = Instant.now();
    String reason = "instance timed out after " + s.spec().timeout().orElseThrow();
    List<Event> events = new ArrayList<>();
    for (StepDefinition d : s.spec().steps()) {
      StepRun run = s.step(d.id());
      if (!run.status().terminal()) {
        events.add(new StepChanged(d.id(), StepStatus.CANCELLED, run.attempt(), reason, null, null, now));
      }
    }
    events.add(new InstanceFinished(InstanceStatus.FAILED, reason, now));
    return persistThenDispatch(events);
  }

  private void armInstanceTimeout(Active s) {
    s.spec().timeout().ifPresent(t -> timers.startSingleTimer("instance-timeout", new InstanceTimedOut("limit"),
        remaining(s.startedAt().plus(t))));
  }

  private Effect<Event, State> onStepResult(Active s, StepResult r) {
    StepRun run = s.step(r.stepId());
    if (s.status().terminal() || run == null || run.status() != StepStatus.RUNNING || run.attempt() != r.attempt()) {
      return Effect().none(); // a late answer for an attempt that was already decided
    }
    Instant now = Instant.now();
    if (r.success()) {
      return persistAndAdvance(s, List.of(
          new StepChanged(r.stepId(), StepStatus.SUCCEEDED, r.attempt(), "succeeded", r.outputs(), null, now)), now);
    }
    return persistAndAdvance(s, failOrRetry(s, r.stepId(), r.attempt(), r.kind(), r.reason(), StepStatus.FAILED, now,
        r.outputs()), now);
  }

  private Effect<Event, State> onTimeout(Active s, StepTimedOut t) {
    StepRun run = s.step(t.stepId());
    if (s.status().terminal() || run.status() != StepStatus.RUNNING || run.attempt() != t.attempt()) {
      return Effect().none();
    }
    Instant now = Instant.now();
    String reason = "timed out after " + s.definition(t.stepId()).flatMap(StepDefinition::timeout).orElseThrow();
    return persistAndAdvance(s, failOrRetry(s, t.stepId(), t.attempt(), FailureKind.PLATFORM, reason,
        StepStatus.TIMED_OUT, now), now);
  }

  private Effect<Event, State> onRetryDue(Active s, RetryDue r) {
    StepRun run = s.step(r.stepId());
    if (s.status() != InstanceStatus.RUNNING || run.status() != StepStatus.RETRYING || run.attempt() != r.attempt()) {
      return Effect().none(); // stale, or paused (re-armed on resume)
    }
    Instant now = Instant.now();
    Active scratch = s;
    List<Event> events = new ArrayList<>();
    for (Event e : startStep(s, s.definition(r.stepId()).orElseThrow(), r.attempt() + 1, now)) {
      events.add(e);
      scratch = (Active) apply(scratch, e);
    }
    events.addAll(advance(scratch, now));
    return persistThenDispatch(events);
  }

  private Effect<Event, State> onSubworkflowResolved(Active s, SubworkflowResolved r) {
    StepRun run = s.step(r.stepId());
    if (s.status().terminal() || run.status() != StepStatus.RUNNING || run.attempt() != r.attempt()) {
      return Effect().none();
    }
    if (r.error() != null) {
      context.getSelf().tell(new StepResult(r.stepId(), r.attempt(), false, null, FailureKind.USER, r.error()));
      return Effect().none();
    }
    engine.sharding().entityRefFor(ENTITY_TYPE_KEY, subworkflowId(r.stepId(), r.attempt()))
        .tell(new Start(r.child(), context.getSystem().ignoreRef()));
    return Effect().none();
  }

  private Effect<Event, State> onChildFinished(Active s, ChildFinished c) {
    StepRun run = s.step(c.stepId());
    if (s.status().terminal() || run == null || run.status() != StepStatus.RUNNING || run.attempt() != c.attempt()) {
      return Effect().none();
    }
    StepDefinition d = s.definition(c.stepId()).orElseThrow();
    if (d.type() == StepType.SUBWORKFLOW) {
      boolean ok = c.status() == InstanceStatus.SUCCEEDED;
      context.getSelf().tell(new StepResult(c.stepId(), c.attempt(), ok, c.outputs(), FailureKind.USER,
          ok ? null : "sub-workflow " + subworkflowId(c.stepId(), c.attempt()) + " " + c.status() + ": " + c.reason()));
      return Effect().none();
    }
    pending.computeIfAbsent(c.stepId(), k -> new ArrayList<>()).add(c);
    if (!flushScheduled) {
      // Completions already in the mailbox are handled before this, so they share one event.
      flushScheduled = true;
      context.getSelf().tell(new FlushIterations("batch"));
    }
    return Effect().none();
  }

  private Effect<Event, State> onFlush(Active s, FlushIterations f) {
    flushScheduled = false;
    Instant now = Instant.now();
    List<Event> events = new ArrayList<>();
    Active scratch = s;
    for (var entry : pending.entrySet()) {
      String stepId = entry.getKey();
      StepRun run = scratch.step(stepId);
      if (run.status() != StepStatus.RUNNING || run.loop() == null) {
        continue;
      }
      Loop loop = run.loop();
      TreeSet<Integer> running = new TreeSet<>(loop.running());
      List<Integer> ok = new ArrayList<>();
      List<Integer> failed = new ArrayList<>();
      for (ChildFinished c : entry.getValue()) {
        if (c.attempt() == run.attempt() && running.remove(c.index())) {
          (c.status() == InstanceStatus.SUCCEEDED ? ok : failed).add(c.index());
        }
      }
      if (ok.isEmpty() && failed.isEmpty()) {
        continue;
      }
      ForeachSpec spec = scratch.definition(stepId).orElseThrow().foreach().orElseThrow();
      int launchTo = scratch.status() == InstanceStatus.PAUSED ? loop.launched()
          : Math.min(loop.total(), loop.launched() + (spec.concurrency() - running.size()));
      Event progressed = new IterationsProgressed(stepId, run.attempt(), loop.total(), loop.launched(), launchTo,
          ok, failed, now);
      events.add(progressed);
      scratch = (Active) apply(scratch, progressed);
      Loop after = scratch.step(stepId).loop();
      if (after.succeeded() + after.failed() == after.total()) {
        List<Event> outcome = after.failed() == 0
            ? List.of(new StepChanged(stepId, StepStatus.SUCCEEDED, run.attempt(), "all " + after.total()
                + " iterations succeeded", loopOutputs(after), null, now))
            : failOrRetry(scratch, stepId, run.attempt(), FailureKind.USER,
                after.failed() + " of " + after.total() + " iterations failed", StepStatus.FAILED, now);
        for (Event e : outcome) {
          events.add(e);
          scratch = (Active) apply(scratch, e);
        }
      }
    }
    pending.clear();
    if (events.isEmpty()) {
      return Effect().none();
    }
    events.addAll(advance(scratch, now));
    return persistThenDispatch(events);
  }

  private static JsonNode loopOutputs(Loop loop) {
    ObjectNode out = NODES.objectNode();
    out.put("total", loop.total());
    out.put("succeeded", loop.succeeded());
    out.put("failed", loop.failed());
    return out;
  }

  // ----------------------------------------------------------------------- scheduling (pure-ish)

  private akka.persistence.typed.javadsl.EffectBuilder<Event, State> persistAndAdvance(Active s, List<Event> first,
      Instant now) {
    List<Event> events = new ArrayList<>(first);
    Active scratch = s;
    for (Event e : first) {
      scratch = (Active) apply(scratch, e);
    }
    events.addAll(advance(scratch, now));
    return persistThenDispatch(events);
  }

  /** RETRYING when the policy allows another attempt for this kind of failure, else terminal. */
  private List<Event> failOrRetry(Active s, String stepId, int attempt, FailureKind kind, String reason,
      StepStatus terminal, Instant now) {
    return failOrRetry(s, stepId, attempt, kind, reason, terminal, now, null);
  }

  /** {@code outputs} of a failed attempt (an HTTP error response) are kept for diagnosis. */
  private List<Event> failOrRetry(Active s, String stepId, int attempt, FailureKind kind, String reason,
      StepStatus terminal, Instant now, JsonNode outputs) {
    StepDefinition d = s.definition(stepId).orElseThrow();
    if (d.retry().retries(kind, attempt)) {
      Instant due = now.plus(d.retry().delayBefore(attempt + 1));
      return List.of(new StepChanged(stepId, StepStatus.RETRYING, attempt, reason, outputs, due, now));
    }
    return List.of(new StepChanged(stepId, terminal, attempt, reason, outputs, null, now));
  }

  /**
   * Everything that follows from the current state without waiting: steps that become ready
   * start (noop steps finish at once), skips propagate, and the instance finishes when nothing
   * more can happen. Applied to a scratch copy; the caller persists the events in one write.
   */
  private List<Event> advance(Active start, Instant now) {
    List<Event> events = new ArrayList<>();
    if (start.status() != InstanceStatus.RUNNING) {
      return events; // finished, or paused: completions are recorded, nothing new starts
    }
    Active s = start;
    while (true) {
      Active current = s;
      List<DagScheduler.Decision> decisions = DagScheduler.next(s.spec().steps(), s.statuses(),
          d -> condition(current, d));
      if (decisions.isEmpty()) {
        break;
      }
      for (DagScheduler.Decision decision : decisions) {
        StepDefinition d = s.definition(decision.stepId()).orElseThrow();
        List<Event> produced;
        if (decision instanceof DagScheduler.Decision.Skip sk) {
          produced = List.of(new StepChanged(d.id(), StepStatus.SKIPPED, 0, sk.reason(), null, null, now));
        } else if (decision instanceof DagScheduler.Decision.Fail f) {
          produced = List.of(
              new StepChanged(d.id(), StepStatus.FAILED, 0, "condition failed: " + f.reason(), null, null, now));
        } else {
          // Attempt 0 for a fresh step; after a restart from failed steps, the next attempt.
          produced = startStep(s, d, s.step(d.id()).attempt() + 1, now);
        }
        for (Event e : produced) {
          events.add(e);
          s = (Active) apply(s, e);
        }
      }
    }
    Optional<Boolean> finished = DagScheduler.finished(s.spec().steps(), s.statuses());
    if (finished.isPresent()) {
      String reason = finished.get() ? "all steps succeeded or were skipped"
          : "failed steps: " + s.steps().entrySet().stream()
              .filter(e -> e.getValue().status().terminal() && !e.getValue().status().done())
              .map(e -> e.getKey() + " (" + e.getValue().status() + ": " + e.getValue().reason() + ")").toList();
      events.add(new InstanceFinished(finished.get() ? InstanceStatus.SUCCEEDED : InstanceStatus.FAILED, reason, now));
    }
    return events;
  }

  private DagScheduler.Condition condition(Active s, StepDefinition d) {
    try {
      return engine.expressions().test(d.condition().orElseThrow(), scope(s))
          ? new DagScheduler.Condition.Holds() : new DagScheduler.Condition.DoesNotHold();
    } catch (Expressions.ExpressionException e) {
      return new DagScheduler.Condition.Error(e.getMessage());
    }
  }

  /** The events of starting one attempt; noop steps, empty loops and bad inputs finish here. */
  private List<Event> startStep(Active s, StepDefinition d, int attempt, Instant now) {
    String started = attempt == 1 ? "upstream done" : "retry";
    if (d.gate().isPresent() && gateSignal(s, d.id()).isEmpty()) {
      // RUNNING while waiting, so the step's timeout covers the wait; the work starts on GATE_OPENED.
      return List.of(new StepChanged(d.id(), StepStatus.RUNNING, attempt, WAITING_FOR + d.gate().get().signal(),
          null, null, now));
    }
    try {
      switch (d.type()) {
        case NOOP -> {
          ObjectNode outputs = NODES.objectNode();
          Expressions.Scope scope = scope(s);
          d.params().forEach((k, v) -> outputs.set(k, engine.expressions().resolve(v, scope)));
          return List.of(new StepChanged(d.id(), StepStatus.RUNNING, attempt, started, null, null, now),
              new StepChanged(d.id(), StepStatus.SUCCEEDED, attempt, "noop", outputs, null, now));
        }
        case WAIT -> {
          JsonNode raw = engine.expressions().resolve(d.params().get("duration"), scope(s));
          Duration wait = DefinitionParser.parseDuration(raw.asText());
          return List.of(new StepChanged(d.id(), StepStatus.RUNNING, attempt, "waiting " + raw.asText(), null,
              now.plus(wait), now));
        }
        case FOREACH -> {
          List<JsonNode> items = items(s, d, attempt);
          ForeachSpec spec = d.foreach().orElseThrow();
          if (items.isEmpty()) {
            return List.of(new StepChanged(d.id(), StepStatus.RUNNING, attempt, started, null, null, now),
                new StepChanged(d.id(), StepStatus.SUCCEEDED, attempt, "no items", loopOutputs(new Loop(0, 0, 0, 0,
                    List.of())), null, now));
          }
          return List.of(new StepChanged(d.id(), StepStatus.RUNNING, attempt, started, null, null, now),
              new IterationsProgressed(d.id(), attempt, items.size(), 0, Math.min(spec.concurrency(), items.size()),
                  List.of(), List.of(), now));
        }
        default -> {
          return List.of(new StepChanged(d.id(), StepStatus.RUNNING, attempt, started, null, null, now));
        }
      }
    } catch (Expressions.ExpressionException | IllegalArgumentException e) {
      // Bad input is a user error: deterministic, so not retried.
      return List.of(new StepChanged(d.id(), StepStatus.RUNNING, attempt, started, null, null, now),
          new StepChanged(d.id(), StepStatus.FAILED, attempt, "invalid input: " + e.getMessage(), null, null, now));
    }
  }

  private List<JsonNode> items(Active s, StepDefinition d, int attempt) {
    String key = d.id() + "#" + attempt;
    List<JsonNode> cached = itemsCache.get(key);
    if (cached != null) {
      return cached;
    }
    JsonNode value = engine.expressions().evaluate(d.foreach().orElseThrow().items(), scope(s));
    if (!value.isArray()) {
      throw new IllegalArgumentException("foreach.items evaluated to " + value.getNodeType() + ", not a list");
    }
    if (value.size() > engine.settings().maxForeachIterations()) {
      throw new IllegalArgumentException("foreach.items has " + value.size() + " elements; the limit is "
          + engine.settings().maxForeachIterations());
    }
    List<JsonNode> items = new ArrayList<>(value.size());
    value.forEach(items::add);
    itemsCache.put(key, items);
    return items;
  }

  private Expressions.Scope scope(Active s) {
    Map<String, JsonNode> outputs = new HashMap<>();
    s.steps().forEach((id, run) -> {
      if (run.status() == StepStatus.SUCCEEDED && run.outputs() != null) {
        outputs.put(id, run.outputs());
      }
    });
    return new Expressions.Scope(s.spec().params(), outputs, s.spec().runTime(),
        Map.of("id", instanceId, "workflowId", s.spec().workflowId(), "version", (long) s.spec().version()),
        s.spec().loopVars());
  }

  // ------------------------------------------------------------------------------ side effects

  private akka.persistence.typed.javadsl.EffectBuilder<Event, State> persistThenDispatch(List<Event> events) {
    return Effect().persist(events).thenRun(s -> afterPersist((Active) s, events));
  }

  /** Acts on what was just journaled: timers, calls, children, the parent, passivation. */
  private void afterPersist(Active s, List<Event> events) {
    for (Event e : events) {
      if (e instanceof InstanceStarted && !s.status().terminal()) {
        armInstanceTimeout(s);
        if (waitsForGate(s)) {
          locateInGate(s);
        }
      }
      if (e instanceof StepChanged c) {
        StepRun run = s.step(c.stepId());
        StepDefinition d = s.definition(c.stepId()).orElseThrow();
        Metrics.increment("fleetplane_workflows_step_transitions",
            Map.of("type", d.type().yamlName(), "status", c.status().name().toLowerCase()));
        if (c.status() != StepStatus.RUNNING) {
          freeStepSlot(d, c.attempt());
        }
        if (c.status() == StepStatus.RUNNING && run.status() == StepStatus.RUNNING && run.attempt() == c.attempt()) {
          Metrics.recordTime("fleetplane_workflows_dispatch_delay", Map.of("type", d.type().yamlName()),
              Duration.between(c.at(), Instant.now()));
          dispatch(s, d, run);
        } else if (c.status() == StepStatus.RETRYING && run.status() == StepStatus.RETRYING) {
          stopWaitingForSignal(s, d);
          armRetry(c.stepId(), run);
        } else if (c.status().terminal()) {
          stopWaitingForSignal(s, d);
          cancelTimers(c.stepId());
          if (c.status() == StepStatus.CANCELLED || c.status() == StepStatus.TIMED_OUT
              || c.status() == StepStatus.FAILED) {
            cancelChildren(s, d, c.attempt(), c.reason());
          }
        }
      } else if (e instanceof IterationsProgressed p) {
        StepRun run = s.step(p.stepId());
        if (run.status() == StepStatus.RUNNING && run.attempt() == p.attempt()) {
          for (int i = p.launchFrom(); i < p.launchTo(); i++) {
            launchIteration(s, s.definition(p.stepId()).orElseThrow(), p.attempt(), i);
          }
        }
      } else if (e instanceof InstanceRestarted && s.spec().parent().isEmpty()) {
        engine.store().markActive(instanceId, s.spec().workflowId());
      } else if (e instanceof InstanceFinished f) {
        Metrics.increment("fleetplane_workflows_instances_finished",
            Map.of("status", f.status().name().toLowerCase()));
        // Children (up to 100,000 per loop) log at debug; top-level instances at info.
        if (s.spec().parent().isEmpty()) {
          context.getLog().info("Workflow instance {} of {} finished: {} ({})", instanceId, s.spec().workflowId(),
              f.status(), f.reason());
        } else {
          context.getLog().debug("Workflow instance {} finished: {} ({})", instanceId, f.status(), f.reason());
        }
        notifyParent(s);
        releaseSlot(s);
        if (s.spec().parent().isEmpty()) {
          engine.store().markFinished(instanceId);
        }
        passivate();
      }
    }
  }

  /** Re-arms timers and re-dispatches running steps after recovery (at-least-once dispatch). */
  private void resume(Active s) {
    if (s.status().terminal()) {
      return;
    }
    armInstanceTimeout(s);
    if (waitsForGate(s)) {
      locateInGate(s); // the gate's Resume may have been lost with the node
    }
    for (StepDefinition d : s.spec().steps()) {
      StepRun run = s.step(d.id());
      if (run.status() == StepStatus.RUNNING) {
        context.getLog().debug("Resuming step {} attempt {} of {}", d.id(), run.attempt(), instanceId);
        dispatch(s, d, run);
        if (d.type() == StepType.FOREACH && run.loop() != null) {
          for (int i : run.loop().running()) {
            launchIteration(s, d, run.attempt(), i);
          }
        }
      } else if (run.status() == StepStatus.RETRYING) {
        armRetry(d.id(), run);
      }
    }
  }

  /**
   * Starts the step's work, or first waits for a node slot when its type is limited
   * ({@code step-type-limits}); a limited step's own timeout then counts from the slot.
   */
  private void dispatch(Active s, StepDefinition d, StepRun run) {
    if (waitingForSignal(s, d)) {
      // Waiting holds no step-type slot; the step's timeout covers the wait.
      d.timeout().ifPresent(t -> timers.startSingleTimer("timeout-" + d.id(), new StepTimedOut(d.id(),
          run.attempt()), remaining(run.startedAt().plus(t))));
      checkSignalGate(s, d, run.attempt());
      return;
    }
    if (engine.settings().stepTypeLimits().containsKey(d.type())) {
      String key = idempotencyKey(d.id(), run.attempt());
      awaitingSlot.put(key, d.id());
      engine.slots().tell(new StepSlots.Acquire(key, d.type(), slotAdapter, context.getSelf()));
      return;
    }
    execute(s, d, run, false);
  }

  private Effect<Event, State> onSlotGranted(Active s, SlotGranted g) {
    String stepId = awaitingSlot.remove(g.key());
    StepRun run = stepId == null ? null : s.step(stepId);
    if (run == null || s.status().terminal() || run.status() != StepStatus.RUNNING
        || !idempotencyKey(stepId, run.attempt()).equals(g.key())) {
      engine.slots().tell(new StepSlots.Release(g.key())); // the attempt ended while it waited
      return Effect().none();
    }
    StepDefinition d = s.definition(stepId).orElseThrow();
    context.getLog().debug("Step {} attempt {} of {} got its {} slot", stepId, run.attempt(), instanceId,
        d.type().yamlName());
    execute(s, d, run, true);
    return Effect().none();
  }

  private void freeStepSlot(StepDefinition d, int attempt) {
    if (engine.settings().stepTypeLimits().containsKey(d.type())) {
      String key = idempotencyKey(d.id(), attempt);
      awaitingSlot.remove(key);
      engine.slots().tell(new StepSlots.Release(key));
    }
  }

  private String idempotencyKey(String stepId, int attempt) {
    return instanceId + ":" + stepId + ":" + attempt;
  }

  private void execute(Active s, StepDefinition d, StepRun run, boolean fromSlot) {
    d.timeout().ifPresent(t -> timers.startSingleTimer("timeout-" + d.id(), new StepTimedOut(d.id(), run.attempt()),
        fromSlot ? t : remaining(run.startedAt().plus(t))));
    switch (d.type()) {
      case WAIT -> timers.startSingleTimer("wait-" + d.id(),
          new StepResult(d.id(), run.attempt(), true, NODES.objectNode().put("waitedUntil", run.dueAt().toString()),
              null, null), remaining(run.dueAt()));
      case HTTP -> callHttp(s, d, run.attempt());
      case SUBWORKFLOW -> resolveSubworkflow(s, d, run.attempt());
      case SIGNAL -> publishSignal(s, d, run.attempt());
      case DISTRIBUTION -> startDistribution(s, d, run.attempt());
      case DEVICE_COMMAND -> sendDeviceCommand(s, d, run.attempt());
      default -> { }
    }
  }

  // ------------------------------------------------------------------------------ signal gates

  static final String GATE_OPENED = "GATE_OPENED";
  static final String GATE_REASON = "signal ";
  static final String WAITING_FOR = "waiting for signal ";

  /** The signal that opened a step's gate (any attempt: a retry does not wait again), from the timeline. */
  static Optional<String> gateSignal(Active s, String stepId) {
    for (TimelineEntry t : s.timeline()) {
      if (GATE_OPENED.equals(t.status()) && stepId.equals(t.stepId())) {
        return Optional.of(t.reason().substring(GATE_REASON.length()));
      }
    }
    return Optional.empty();
  }

  private static boolean waitingForSignal(Active s, StepDefinition d) {
    return d.gate().isPresent() && s.step(d.id()).status() == StepStatus.RUNNING && gateSignal(s, d.id()).isEmpty();
  }

  /** Signals received since the run began (minus the gate's lookback) count, not only those after the step became ready. */
  private static Instant gateWindowStart(Active s, StepDefinition d) {
    return s.spec().runTime().minus(d.gate().orElseThrow().lookback());
  }

  private void checkSignalGate(Active s, StepDefinition d, int attempt) {
    var signals = io.fleetplane.jobs.workflow.signal.WorkflowSignals.find(context.getSystem());
    // Polls until the gate opens or the step ends (cancelTimers); also covers a node without signals.
    Duration poll = signals.map(io.fleetplane.jobs.workflow.signal.WorkflowSignals::gatePollInterval)
        .orElse(Duration.ofSeconds(30));
    if (!timers.isTimerActive("gate-poll-" + d.id())) {
      timers.startTimerWithFixedDelay("gate-poll-" + d.id(), new CheckSignalGates("poll"), poll);
    }
    if (signals.isEmpty()) {
      context.getLog().warn("Step {} of {} waits on a gate, but signals are not started on this node", d.id(),
          instanceId);
      return;
    }
    context.pipeToSelf(signals.get().checkGate(instanceId, s.spec().workflowId(), d.id(), d.gate().get().signal(),
        gateWindowStart(s, d)), (check, error) -> error != null
            ? new SignalGateChecked(d.id(), attempt, Optional.empty(), null, causeOf(error).getMessage())
            : new SignalGateChecked(d.id(), attempt, check.opened(), check.candidates(), null));
  }

  private Effect<Event, State> onCheckSignalGates(Active s, CheckSignalGates c) {
    if (s.status().terminal()) {
      return Effect().none().thenRun(x -> passivate());
    }
    for (StepDefinition d : s.spec().steps()) {
      if (waitingForSignal(s, d)) {
        checkSignalGate(s, d, s.step(d.id()).attempt());
      }
    }
    return Effect().none();
  }

  private Effect<Event, State> onSignalGateChecked(Active s, SignalGateChecked c) {
    StepDefinition d = s.definition(c.stepId()).orElseThrow();
    if (s.status().terminal() || !waitingForSignal(s, d) || s.step(c.stepId()).attempt() != c.attempt()) {
      return Effect().none();
    }
    if (c.error() != null) {
      context.getLog().warn("Gate of step {} of {}: check failed ({}); the poll tries again", c.stepId(), instanceId,
          c.error());
      return Effect().none();
    }
    if (c.opened().isPresent()) {
      return openSignalGate(s, d, c.attempt(), c.opened().get());
    }
    var gate = d.gate().get();
    Expressions.Scope base = scope(s);
    for (var candidate : c.candidates()) {
      boolean matches = true;
      if (gate.condition().isPresent()) {
        Map<String, JsonNode> vars = new HashMap<>(base.loopVars());
        vars.put(DefinitionParser.GATE_SIGNAL_VAR, io.fleetplane.jobs.workflow.signal.WorkflowSignals.gateVariable(
            candidate));
        try {
          matches = engine.expressions().test(gate.condition().get(), new Expressions.Scope(base.params(),
              base.steps(), base.now(), base.instance(), vars));
        } catch (Expressions.ExpressionException e) {
          // Like a subscription condition: a signal it cannot be evaluated on does not match.
          Metrics.increment("fleetplane_workflows_gate_condition_failed");
          context.getLog().debug("Gate of step {} of {}: condition failed on signal {}: {}", c.stepId(), instanceId,
              candidate.signalId(), e.getMessage());
          matches = false;
        }
      }
      if (matches) {
        String signalId = candidate.signalId();
        var signals = io.fleetplane.jobs.workflow.signal.WorkflowSignals.find(context.getSystem()).orElseThrow();
        context.pipeToSelf(signals.claimGate(instanceId, c.stepId(), signalId), (held, error) -> error != null
            ? new SignalGateClaimed(c.stepId(), c.attempt(), null, causeOf(error).getMessage())
            : new SignalGateClaimed(c.stepId(), c.attempt(), held.orElse(null), held.isEmpty()
                ? "gate row of step " + c.stepId() + " is missing" : null));
        return Effect().none();
      }
    }
    return Effect().none();
  }

  private Effect<Event, State> onSignalGateClaimed(Active s, SignalGateClaimed c) {
    StepDefinition d = s.definition(c.stepId()).orElseThrow();
    if (s.status().terminal() || !waitingForSignal(s, d) || s.step(c.stepId()).attempt() != c.attempt()) {
      return Effect().none();
    }
    if (c.error() != null) {
      context.getLog().warn("Gate of step {} of {}: claim failed ({}); the poll tries again", c.stepId(), instanceId,
          c.error());
      return Effect().none();
    }
    return openSignalGate(s, d, c.attempt(), c.signalId());
  }

  /** Journals the opening, then the step's start as if it had just become ready (its timeout starts again). */
  private Effect<Event, State> openSignalGate(Active s, StepDefinition d, int attempt, String signalId) {
    timers.cancel("gate-poll-" + d.id());
    Instant now = Instant.now();
    context.getLog().info("Gate of step {} of {} opened by signal {}", d.id(), instanceId, signalId);
    Metrics.increment("fleetplane_workflows_gates_opened");
    List<Event> events = new ArrayList<>();
    Event opened = new StepGateOpened(d.id(), attempt, signalId, now);
    events.add(opened);
    Active scratch = (Active) apply(s, opened);
    for (Event e : startStep(scratch, d, attempt, now)) {
      events.add(e);
      scratch = (Active) apply(scratch, e);
    }
    events.addAll(advance(scratch, now));
    return persistThenDispatch(events);
  }

  /** A step that ends or retries while waiting frees its gate row, so publish stops waking this instance for it. */
  private void stopWaitingForSignal(Active s, StepDefinition d) {
    if (d.gate().isPresent() && gateSignal(s, d.id()).isEmpty()) {
      io.fleetplane.jobs.workflow.signal.WorkflowSignals.find(context.getSystem())
          .ifPresent(signals -> signals.dropWaitingGate(instanceId, d.id()));
    }
  }

  private void armRetry(String stepId, StepRun run) {
    timers.startSingleTimer("retry-" + stepId, new RetryDue(stepId, run.attempt()), remaining(run.dueAt()));
  }

  private void cancelTimers(String stepId) {
    timers.cancel("timeout-" + stepId);
    timers.cancel("wait-" + stepId);
    timers.cancel("retry-" + stepId);
    timers.cancel("poll-" + stepId);
    timers.cancel("gate-poll-" + stepId);
  }

  private static Duration remaining(Instant due) {
    Duration d = Duration.between(Instant.now(), due);
    return d.isNegative() ? Duration.ZERO : d;
  }

  private void callHttp(Active s, StepDefinition d, int attempt) {
    String key = instanceId + ":" + d.id() + ":" + attempt;
    Map<String, JsonNode> resolved = new LinkedHashMap<>();
    try {
      Expressions.Scope scope = scope(s);
      d.params().forEach((k, v) -> resolved.put(k, engine.expressions().resolve(v, scope)));
    } catch (Expressions.ExpressionException e) {
      context.getSelf().tell(new StepResult(d.id(), attempt, false, null, FailureKind.USER,
          "invalid input: " + e.getMessage()));
      return;
    }
    Duration timeout = d.timeout().orElse(engine.settings().httpTimeout());
    context.pipeToSelf(engine.http().call(resolved, key, timeout), (result, error) -> error != null
        ? new StepResult(d.id(), attempt, false, null, FailureKind.PLATFORM, "http call failed: " + error)
        : new StepResult(d.id(), attempt, result.success(), result.outputs(), result.kind(), result.reason()));
  }

  /**
   * The default signal id of a signal step: derived from the idempotency key, so a re-dispatch of
   * the same attempt (after a crash) publishes the same signal, which WorkflowSignals de-duplicates
   * and which starts each subscribed workflow once. Ids too long or not path-safe (deeply nested
   * children) are replaced by a name-based UUID of the key.
   */
  static String signalIdFor(String instanceId, String stepId, int attempt) {
    String key = instanceId + ":" + stepId + ":" + attempt;
    return io.fleetplane.jobs.workflow.signal.WorkflowSignals.isValidSignalId(key) ? key
        : "wfstep-" + java.util.UUID.nameUUIDFromBytes(key.getBytes(java.nio.charset.StandardCharsets.UTF_8));
  }

  private void publishSignal(Active s, StepDefinition d, int attempt) {
    var signals = io.fleetplane.jobs.workflow.signal.WorkflowSignals.find(context.getSystem());
    if (signals.isEmpty()) {
      // Transient from the step's point of view: a node with signals started will run it.
      context.getSelf().tell(new StepResult(d.id(), attempt, false, null, FailureKind.PLATFORM,
          "signals are not started on this node (call WorkflowSignals.start after WorkflowEngine.start)"));
      return;
    }
    io.fleetplane.jobs.workflow.signal.SignalStore.Signal signal;
    try {
      Expressions.Scope scope = scope(s);
      Map<String, JsonNode> p = new LinkedHashMap<>();
      d.params().forEach((k, v) -> p.put(k, engine.expressions().resolve(v, scope)));
      Map<String, JsonNode> signalParams = new LinkedHashMap<>();
      JsonNode given = p.get("params");
      if (given != null && !given.isNull()) {
        if (!given.isObject()) {
          throw new IllegalArgumentException("params.params evaluated to " + given.getNodeType() + ", not a map");
        }
        given.fields().forEachRemaining(f -> signalParams.put(f.getKey(), f.getValue()));
      }
      JsonNode id = p.get("signalId");
      String signalId = id == null || id.isNull() ? signalIdFor(instanceId, d.id(), attempt) : id.asText();
      signal = signals.get().signal(Optional.of(signalId), p.get("name").asText(), signalParams, Optional.empty(),
          "workflow");
    } catch (Expressions.ExpressionException | IllegalArgumentException
        | io.fleetplane.jobs.workflow.signal.WorkflowSignals.InvalidSignalException e) {
      context.getSelf().tell(new StepResult(d.id(), attempt, false, null, FailureKind.USER,
          "invalid input: " + e.getMessage()));
      return;
    }
    context.pipeToSelf(signals.get().publishFromStep(signal, instanceId, s.spec().workflowId(), d.id()),
        (published, error) -> {
      if (error != null) {
        Throwable cause = error instanceof java.util.concurrent.CompletionException && error.getCause() != null
            ? error.getCause() : error;
        return new StepResult(d.id(), attempt, false, null, FailureKind.PLATFORM, "publishing signal "
            + signal.signalId() + " failed: " + cause.getMessage());
      }
      ObjectNode out = NODES.objectNode();
      out.put("signalId", published.signal().signalId());
      out.put("name", published.signal().name());
      out.put("duplicate", published.duplicate());
      var ids = out.putArray("triggered");
      published.triggered().forEach(t -> ids.add(t.instanceId()));
      return new StepResult(d.id(), attempt, true, out, null, null);
    });
  }

  /**
   * The job id of a distribution step's attempt: a name-based UUID of the idempotency key, so a
   * re-dispatch (recovery after a crash) submits the same job id, which creates nothing new and
   * answers with the existing job, and the step goes on waiting for it.
   */
  static String distributionJobIdFor(String instanceId, String stepId, int attempt) {
    return java.util.UUID.nameUUIDFromBytes(("workflow-step:" + instanceId + ":" + stepId + ":" + attempt)
        .getBytes(java.nio.charset.StandardCharsets.UTF_8)).toString();
  }

  private static final com.fasterxml.jackson.databind.ObjectMapper REQUESTS =
      new com.fasterxml.jackson.databind.ObjectMapper()
          .configure(com.fasterxml.jackson.databind.DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, true);

  /** Step params -> the HTTP body of POST /api/v1/distributions, validated by the same code. */
  static io.fleetplane.jobs.distribution.domain.DistributionRequest distributionRequest(Map<String, JsonNode> p) {
    ObjectNode body = NODES.objectNode();
    com.fasterxml.jackson.databind.node.ArrayNode files = body.putArray("files");
    JsonNode given = p.get("files");
    if (given != null && !given.isNull()) {
      if (!given.isArray()) {
        throw new IllegalArgumentException("params.files evaluated to " + given.getNodeType() + ", not a list");
      }
      files.addAll((com.fasterxml.jackson.databind.node.ArrayNode) given);
    }
    JsonNode ids = p.get("documentIds");
    if (ids != null && !ids.isNull()) {
      if (!ids.isArray()) {
        throw new IllegalArgumentException("params.documentIds evaluated to " + ids.getNodeType() + ", not a list");
      }
      ids.forEach(id -> files.addObject().put("documentId", id.asText()));
    }
    body.set("recipients", p.get("recipients"));
    JsonNode options = p.get("options");
    if (options != null && !options.isNull()) {
      if (!options.isObject()) {
        throw new IllegalArgumentException("params.options evaluated to " + options.getNodeType() + ", not a map");
      }
      body.setAll((ObjectNode) options);
    }
    for (String o : DefinitionParser.DISTRIBUTION_OPTIONS) {
      if (p.containsKey(o)) {
        body.set(o, p.get(o));
      }
    }
    try {
      return REQUESTS.treeToValue(body, io.fleetplane.jobs.distribution.domain.DistributionRequest.class);
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new IllegalArgumentException("the distribution params do not form a distribution request: "
          + e.getOriginalMessage());
    }
  }

  private void startDistribution(Active s, StepDefinition d, int attempt) {
    var distributions = io.fleetplane.jobs.distribution.Distributions.find(context.getSystem());
    if (distributions.isEmpty()) {
      context.getSelf().tell(new StepResult(d.id(), attempt, false, null, FailureKind.PLATFORM,
          "distribution jobs are not started on this node (call Distributions.start)"));
      return;
    }
    String jobId = distributionJobIdFor(instanceId, d.id(), attempt);
    java.util.concurrent.CompletionStage<io.fleetplane.jobs.distribution.DistributionJob.Accepted> submitted;
    try {
      Expressions.Scope scope = scope(s);
      Map<String, JsonNode> p = new LinkedHashMap<>();
      d.params().forEach((k, v) -> p.put(k, engine.expressions().resolve(v, scope)));
      submitted = distributions.get().submit(distributionRequest(p), jobId);
    } catch (Expressions.ExpressionException | IllegalArgumentException e) {
      // InvalidInputException included: the same checks and messages as a bad POST /api/v1/distributions: deterministic, a user error.
      context.getSelf().tell(new StepResult(d.id(), attempt, false, null, FailureKind.USER,
          "invalid input: " + e.getMessage()));
      return;
    }
    context.pipeToSelf(submitted, (accepted, error) -> error != null
        ? new DistributionRead(d.id(), attempt, jobId, null, "submitting distribution job " + jobId + " failed: "
            + causeOf(error).getMessage())
        : new DistributionRead(d.id(), attempt, jobId, accepted.summary(), null));
  }

  private static Throwable causeOf(Throwable error) {
    return error instanceof java.util.concurrent.CompletionException && error.getCause() != null
        ? error.getCause() : error;
  }

  private Effect<Event, State> onPollDistribution(Active s, PollDistribution p) {
    StepRun run = s.step(p.stepId());
    if (s.status().terminal() || run == null || run.status() != StepStatus.RUNNING || run.attempt() != p.attempt()) {
      return Effect().none();
    }
    if (p.jobId() == null) {
      startDistribution(s, s.definition(p.stepId()).orElseThrow(), p.attempt());
      return Effect().none();
    }
    var distributions = io.fleetplane.jobs.distribution.Distributions.find(context.getSystem());
    if (distributions.isEmpty()) {
      context.getSelf().tell(new DistributionRead(p.stepId(), p.attempt(), p.jobId(), null,
          "distribution jobs are not started on this node"));
      return Effect().none();
    }
    context.pipeToSelf(distributions.get().summary(p.jobId()), (reply, error) -> {
      if (error != null) {
        return new DistributionRead(p.stepId(), p.attempt(), p.jobId(), null, "reading distribution job "
            + p.jobId() + " failed: " + causeOf(error).getMessage());
      }
      if (reply instanceof io.fleetplane.jobs.distribution.DistributionJob.SummaryFound f) {
        return new DistributionRead(p.stepId(), p.attempt(), p.jobId(), f.summary(), null);
      }
      return new DistributionRead(p.stepId(), p.attempt(), p.jobId(), null, "distribution job " + p.jobId()
          + " does not exist");
    });
    return Effect().none();
  }

  /**
   * Finished jobs decide the step: {@code completed} succeeds; {@code completed-with-errors} (some
   * copies failed) and {@code cancelled} fail it as user errors, with the counts as outputs. A
   * failed read is a platform error. Anything else: poll again after the configured interval.
   */
  private Effect<Event, State> onDistributionRead(Active s, DistributionRead r) {
    StepRun run = s.step(r.stepId());
    if (s.status().terminal() || run == null || run.status() != StepStatus.RUNNING || run.attempt() != r.attempt()) {
      return Effect().none();
    }
    String errorKey = r.stepId() + "#" + r.attempt();
    if (r.summary() == null) {
      // A failed submit or read is retried within the same attempt, by submitting again: the job id
      // is the same, so this either creates the job the first submit never did or answers with the
      // one it did. Failing the step at once would retry it as a new attempt, i.e. a new job id,
      // and could distribute twice. After the budget it fails as a platform error.
      int errors = distributionErrors.merge(errorKey, 1, Integer::sum);
      if (errors > DISTRIBUTION_ERROR_BUDGET) {
        distributionErrors.remove(errorKey);
        context.getSelf().tell(new StepResult(r.stepId(), r.attempt(), false, null, FailureKind.PLATFORM,
            r.error() + " (" + DISTRIBUTION_ERROR_BUDGET + " consecutive failures)"));
        return Effect().none();
      }
      context.getLog().warn("Distribution step {} of {}: {}; submitting again in {}", r.stepId(), instanceId,
          r.error(), engine.settings().distributionPollInterval());
      timers.startSingleTimer("poll-" + r.stepId(), new PollDistribution(r.stepId(), r.attempt(), null),
          engine.settings().distributionPollInterval());
      return Effect().none();
    }
    distributionErrors.remove(errorKey);
    var summary = r.summary();
    if (summary.finishedAt() == null) {
      timers.startSingleTimer("poll-" + r.stepId(), new PollDistribution(r.stepId(), r.attempt(), r.jobId()),
          engine.settings().distributionPollInterval());
      return Effect().none();
    }
    ObjectNode out = NODES.objectNode();
    out.put("distributionId", summary.jobId());
    out.put("status", summary.status());
    out.put("totalItems", summary.totalItems());
    ObjectNode counts = out.putObject("counts");
    summary.counts().forEach(counts::put);
    boolean ok = "completed".equals(summary.status());
    context.getSelf().tell(new StepResult(r.stepId(), r.attempt(), ok, out, FailureKind.USER, ok ? null
        : "distribution job " + summary.jobId() + " ended " + summary.status() + " " + summary.counts()));
    return Effect().none();
  }

  private void resolveSubworkflow(Active s, StepDefinition d, int attempt) {
    Map<String, JsonNode> p = new LinkedHashMap<>();
    try {
      Expressions.Scope scope = scope(s);
      d.params().forEach((k, v) -> p.put(k, engine.expressions().resolve(v, scope)));
    } catch (Expressions.ExpressionException e) {
      context.getSelf().tell(new StepResult(d.id(), attempt, false, null, FailureKind.USER,
          "invalid input: " + e.getMessage()));
      return;
    }
    String workflowId = p.get("workflowId").asText();
    Optional<Integer> version = p.containsKey("version") && !p.get("version").isNull()
        ? Optional.of(p.get("version").asInt()) : Optional.empty();
    JsonNode childParams = p.getOrDefault("params", NODES.objectNode());
    ParentRef parent = new ParentRef(instanceId, d.id(), attempt, -1);
    context.pipeToSelf(engine.childSpec(workflowId, version, childParams, parent, s.spec().runTime()),
        (spec, error) -> error != null
            ? new SubworkflowResolved(d.id(), attempt, null, error instanceof java.util.concurrent.CompletionException
                && error.getCause() != null ? error.getCause().getMessage() : error.getMessage())
            : new SubworkflowResolved(d.id(), attempt, spec, null));
  }

  private void launchIteration(Active s, StepDefinition d, int attempt, int index) {
    ForeachSpec spec = d.foreach().orElseThrow();
    List<JsonNode> items;
    try {
      items = items(s, d, attempt);
    } catch (RuntimeException e) {
      context.getSelf().tell(new StepResult(d.id(), attempt, false, null, FailureKind.USER, e.getMessage()));
      return;
    }
    Map<String, JsonNode> vars = new HashMap<>(s.spec().loopVars());
    vars.put(spec.as(), items.get(index));
    StartSpec child = new StartSpec(s.spec().workflowId(), s.spec().version(), spec.steps(), s.spec().params(),
        vars, Optional.of(new ParentRef(instanceId, d.id(), attempt, index)), Optional.empty(), s.spec().runTime(),
        Optional.empty(), false, false);
    engine.sharding().entityRefFor(ENTITY_TYPE_KEY, iterationPrefix(d.id(), attempt) + index)
        .tell(new Start(child, context.getSystem().ignoreRef()));
  }

  private void cancelChildren(Active s, StepDefinition d, int attempt, String reason) {
    if (d.type() == StepType.DISTRIBUTION) {
      // The job outlives a cancelled or timed-out step otherwise; a finished job ignores this.
      io.fleetplane.jobs.distribution.Distributions.find(context.getSystem())
          .ifPresent(ds -> ds.cancel(distributionJobIdFor(instanceId, d.id(), attempt)));
    } else if (d.type() == StepType.SUBWORKFLOW) {
      engine.sharding().entityRefFor(ENTITY_TYPE_KEY, subworkflowId(d.id(), attempt))
          .tell(new Cancel("parent step " + d.id() + ": " + reason, context.getSystem().ignoreRef()));
    } else if (d.type() == StepType.FOREACH) {
      StepRun run = s.step(d.id());
      if (run.loop() != null && run.attempt() == attempt) {
        for (int i : run.loop().running()) {
          engine.sharding().entityRefFor(ENTITY_TYPE_KEY, iterationPrefix(d.id(), attempt) + i)
              .tell(new Cancel("parent step " + d.id() + ": " + reason, context.getSystem().ignoreRef()));
        }
      }
    }
  }

  private void notifyParent(Active s) {
    s.spec().parent().ifPresent(p -> {
      JsonNode outputs = null;
      if (p.index() < 0) {
        ObjectNode o = NODES.objectNode();
        o.put("instanceId", instanceId);
        o.put("workflowId", s.spec().workflowId());
        o.put("version", s.spec().version());
        ObjectNode steps = o.putObject("steps");
        s.steps().forEach((id, run) -> {
          if (run.outputs() != null) {
            steps.set(id, run.outputs());
          }
        });
        outputs = o;
      }
      engine.sharding().entityRefFor(ENTITY_TYPE_KEY, p.instanceId()).tell(new ChildFinished(p.stepId(), p.attempt(),
          p.index(), s.status(), s.reason(), outputs));
    });
  }

  /**
   * Sends the step's command through {@link DeviceCommandGateway} (idempotent on the attempt's
   * key, so a re-dispatch after a crash waits for the same command instead of sending another).
   * The reply decides: {@code succeeded} succeeds with the reply's result fields as outputs (plus
   * {@code commandId} and {@code commandStatus}); the device's {@code failed} or {@code rejected}
   * is a user error; a timeout, the bridge's or node's rejection and an unreachable control plane
   * are platform errors.
   */
  private void sendDeviceCommand(Active s, StepDefinition d, int attempt) {
    Optional<DeviceCommandGateway> gateway = engine.deviceCommands();
    if (gateway.isEmpty()) {
      context.getSelf().tell(new StepResult(d.id(), attempt, false, null, FailureKind.PLATFORM,
          "device commands are not available on this node (no DeviceCommandGateway plugged in)"));
      return;
    }
    DeviceCommandGateway.CommandRequest request;
    try {
      request = deviceCommandRequest(s, d, attempt);
    } catch (Expressions.ExpressionException | IllegalArgumentException e) {
      context.getSelf().tell(new StepResult(d.id(), attempt, false, null, FailureKind.USER,
          "invalid input: " + e.getMessage()));
      return;
    }
    context.getLog().debug("Device-command step {} attempt {} of {}: '{}' to session {}", d.id(), attempt,
        instanceId, request.name(), request.deviceSessionId());
    context.pipeToSelf(gateway.get().send(request), (reply, error) -> {
      if (error != null) {
        Throwable cause = causeOf(error);
        return cause instanceof DeviceCommandGateway.CommandRefusedException
            ? new StepResult(d.id(), attempt, false, null, FailureKind.USER, "command refused: " + cause.getMessage())
            : new StepResult(d.id(), attempt, false, null, FailureKind.PLATFORM, "sending command '"
                + request.name() + "' failed: " + cause.getMessage());
      }
      return deviceCommandResult(d.id(), attempt, reply);
    });
  }

  private DeviceCommandGateway.CommandRequest deviceCommandRequest(Active s, StepDefinition d, int attempt) {
    Expressions.Scope scope = scope(s);
    Map<String, JsonNode> p = new LinkedHashMap<>();
    d.params().forEach((k, v) -> p.put(k, engine.expressions().resolve(v, scope)));
    JsonNode session = p.get("deviceSessionId");
    JsonNode name = p.get("name");
    if (session == null || !session.isTextual() || session.asText().isBlank()) {
      throw new IllegalArgumentException("params.deviceSessionId must evaluate to a device session id, was " + session);
    }
    if (name == null || !name.isTextual()) {
      throw new IllegalArgumentException("params.name must evaluate to a string, was " + name);
    }
    JsonNode given = p.get("params");
    ObjectNode commandParams = NODES.objectNode();
    if (given != null && !given.isNull()) {
      if (!given.isObject()) {
        throw new IllegalArgumentException("params.params evaluated to " + given.getNodeType() + ", not a map");
      }
      commandParams = (ObjectNode) given;
    }
    JsonNode timeoutMs = p.get("timeoutMs");
    Duration timeout;
    if (timeoutMs != null && !timeoutMs.isNull()) {
      if (!timeoutMs.canConvertToLong() || !timeoutMs.isIntegralNumber() || timeoutMs.asLong() < 1) {
        throw new IllegalArgumentException("params.timeoutMs must evaluate to a whole number of milliseconds >= 1,"
            + " was " + timeoutMs);
      }
      timeout = Duration.ofMillis(timeoutMs.asLong());
    } else {
      timeout = d.timeout().orElse(engine.settings().deviceCommandTimeout());
    }
    return new DeviceCommandGateway.CommandRequest(session.asText(), name.asText(), commandParams, timeout,
        idempotencyKey(d.id(), attempt));
  }

  static StepResult deviceCommandResult(String stepId, int attempt, DeviceCommandGateway.CommandReply reply) {
    ObjectNode out = NODES.objectNode();
    if (reply.result() != null && reply.result().isObject()) {
      out.setAll((ObjectNode) reply.result());
    } else if (reply.result() != null && !reply.result().isNull()) {
      out.set("result", reply.result());
    }
    out.put("commandId", reply.commandId());
    out.put("commandStatus", reply.status());
    reply.errorCode().ifPresent(c -> out.putObject("error").put("code", c)
        .put("message", reply.errorMessage().orElse("")));
    if ("succeeded".equals(reply.status())) {
      return new StepResult(stepId, attempt, true, out, null, null);
    }
    String why = "command " + reply.commandId() + " " + reply.status() + " (" + reply.source() + ")"
        + reply.errorCode().map(c -> ": " + c).orElse("") + reply.errorMessage().map(m -> " " + m).orElse("");
    boolean userError = "device".equals(reply.source())
        && ("failed".equals(reply.status()) || "rejected".equals(reply.status()));
    return new StepResult(stepId, attempt, false, out, userError ? FailureKind.USER : FailureKind.PLATFORM, why);
  }

  /** Started queued behind the workflow's running limit and never resumed since. */
  private static boolean waitsForGate(Active s) {
    return s.spec().queued() && s.status() == InstanceStatus.PAUSED
        && s.timeline().stream().noneMatch(t -> t.stepId() == null && "RESUMED".equals(t.status()));
  }

  private void locateInGate(Active s) {
    context.pipeToSelf(engine.sharding().entityRefFor(WorkflowRunGate.ENTITY_TYPE_KEY, s.spec().workflowId())
        .<WorkflowRunGate.AdmitReply>ask(reply -> new WorkflowRunGate.Locate(instanceId, reply),
            engine.settings().askTimeout()),
        (reply, error) -> new GateLocated(reply, error == null ? null : error.toString()));
  }

  /**
   * The gate's answer to a queued start. Admitted: its Resume reached this instance before its
   * Start did and was dropped, so resume now. Not held: a later last-only start superseded it
   * before it existed (that Cancel was dropped too), so it ends CANCELLED like any superseded start.
   */
  private Effect<Event, State> onGateLocated(Active s, GateLocated g) {
    if (!waitsForGate(s)) {
      return Effect().none();
    }
    if (g.reply() == null) {
      // Left PAUSED: the gate resumes it when a slot frees, and a node restart asks again.
      context.getLog().warn("Could not ask the run gate of {} about queued instance {}: {}", s.spec().workflowId(),
          instanceId, g.error());
      return Effect().none();
    }
    if (g.reply() instanceof WorkflowRunGate.Admitted) {
      context.getLog().info("Queued instance {} of {} was admitted before it started; resuming",
          instanceId, s.spec().workflowId());
      context.getSelf().tell(new Resume(context.getSystem().ignoreRef()));
    } else if (g.reply() instanceof WorkflowRunGate.NotHeld) {
      context.getLog().info("Queued instance {} of {} was superseded before it started; cancelling",
          instanceId, s.spec().workflowId());
      context.getSelf().tell(new Cancel("superseded by a later start before this one started: the workflow runs"
          + " last-only", context.getSystem().ignoreRef()));
    }
    return Effect().none();
  }

  private void releaseSlot(Active s) {
    if (s.spec().gated()) {
      engine.sharding().entityRefFor(WorkflowRunGate.ENTITY_TYPE_KEY, s.spec().workflowId())
          .tell(new WorkflowRunGate.Release(instanceId));
    }
  }

  private void passivate() {
    shard.ifPresent(sh -> sh.tell(new ClusterSharding.Passivate<>(context.getSelf())));
  }

  String iterationPrefix(String stepId, int attempt) {
    return iterationPrefix(instanceId, stepId, attempt);
  }

  static String iterationPrefix(String instanceId, String stepId, int attempt) {
    return instanceId + SEPARATOR + stepId + SEPARATOR + attempt + SEPARATOR;
  }

  String subworkflowId(String stepId, int attempt) {
    return instanceId + SEPARATOR + stepId + SEPARATOR + attempt;
  }

  // ------------------------------------------------------------------------------------- views

  private InstanceView view(Active s) {
    List<StepView> steps = new ArrayList<>();
    for (StepDefinition d : s.spec().steps()) {
      StepRun run = s.step(d.id());
      Optional<LoopView> loop = Optional.ofNullable(run.loop()).map(l -> new LoopView(l.total(), l.launched(),
          l.succeeded(), l.failed(), l.running(), iterationPrefix(d.id(), run.attempt())));
      Optional<String> child = d.type() == StepType.SUBWORKFLOW && run.attempt() > 0
          ? Optional.of(subworkflowId(d.id(), run.attempt())) : Optional.empty();
      if (run.status() == StepStatus.RUNNING && awaitingSlot.containsKey(idempotencyKey(d.id(), run.attempt()))) {
        // Journaled RUNNING (the DAG has started it), but nothing runs yet: show why it waits.
        steps.add(new StepView(d.id(), d.type().yamlName(), StepStatus.CREATED, run.attempt(), "queued: this node"
            + " runs at most " + engine.settings().stepTypeLimits().get(d.type()) + " " + d.type().yamlName()
            + " steps at once (fleetplane.workflows.step-type-limits)", null, run.startedAt(), run.updatedAt(),
            loop, child));
        continue;
      }
      steps.add(new StepView(d.id(), d.type().yamlName(), run.status(), run.attempt(), run.reason(), run.outputs(),
          run.startedAt(), run.updatedAt(), loop, child));
    }
    return new InstanceView(instanceId, s.spec().workflowId(), s.spec().version(), s.status(), s.reason(),
        s.spec().requestId(), s.spec().parent().map(ParentRef::instanceId), s.startedAt(), s.finishedAt(),
        s.spec().params(), steps, s.timeline());
  }

  // ----------------------------------------------------------------------------- event handler

  @Override
  public EventHandler<State, Event> eventHandler() {
    return (state, event) -> apply(state, event);
  }

  static State apply(State state, Event event) {
    if (event instanceof InstanceStarted e) {
      Map<String, StepRun> steps = new LinkedHashMap<>();
      for (StepDefinition d : e.spec().steps()) {
        steps.put(d.id(), new StepRun(StepStatus.CREATED, 0, null, null, null, e.at(), null, null));
      }
      return new Active(e.instanceId(), e.spec(), e.at(), InstanceStatus.RUNNING, null, null, Map.copyOf(steps),
          List.of(new TimelineEntry(e.at(), null, "STARTED", 0, e.spec().requestId().map(r -> "requestId " + r)
              .orElse(null))));
    }
    Active s = (Active) state;
    if (event instanceof StepChanged e) {
      StepRun old = s.step(e.stepId());
      boolean newAttempt = e.status() == StepStatus.RUNNING || e.status() == StepStatus.CREATED;
      StepRun run = new StepRun(e.status(), e.attempt(), e.reason(),
          e.outputs() != null ? e.outputs() : newAttempt ? null : old.outputs(),
          newAttempt ? e.at() : old.startedAt(), e.at(), e.dueAt(), newAttempt ? null : old.loop());
      return withStep(s, e.stepId(), run, new TimelineEntry(e.at(), e.stepId(), e.status().name(), e.attempt(),
          e.reason()));
    }
    if (event instanceof IterationsProgressed e) {
      StepRun old = s.step(e.stepId());
      Loop loop = old.loop() == null ? new Loop(e.total(), 0, 0, 0, List.of()) : old.loop();
      TreeSet<Integer> running = new TreeSet<>(loop.running());
      e.succeeded().forEach(running::remove);
      e.failed().forEach(running::remove);
      for (int i = e.launchFrom(); i < e.launchTo(); i++) {
        running.add(i);
      }
      Loop next = new Loop(e.total(), e.launchTo(), loop.succeeded() + e.succeeded().size(),
          loop.failed() + e.failed().size(), List.copyOf(running));
      StepRun run = new StepRun(old.status(), old.attempt(), old.reason(), old.outputs(), old.startedAt(),
          e.at(), old.dueAt(), next);
      return withStep(s, e.stepId(), run, null);
    }
    if (event instanceof StepGateOpened e) {
      return withStep(s, e.stepId(), s.step(e.stepId()), new TimelineEntry(e.at(), e.stepId(), GATE_OPENED,
          e.attempt(), GATE_REASON + e.signalId()));
    }
    if (event instanceof InstancePaused e) {
      return withStatus(s, InstanceStatus.PAUSED, new TimelineEntry(e.at(), null, "PAUSED", 0, null));
    }
    if (event instanceof InstanceResumed e) {
      return withStatus(s, InstanceStatus.RUNNING, new TimelineEntry(e.at(), null, "RESUMED", 0, null));
    }
    if (event instanceof InstanceRestarted e) {
      List<TimelineEntry> timeline = new ArrayList<>(s.timeline());
      timeline.add(new TimelineEntry(e.at(), null, "RESTARTED", 0, e.reason()));
      return new Active(s.instanceId(), s.spec(), s.startedAt(), InstanceStatus.RUNNING, null, null, s.steps(),
          List.copyOf(timeline));
    }
    InstanceFinished e = (InstanceFinished) event;
    List<TimelineEntry> timeline = new ArrayList<>(s.timeline());
    timeline.add(new TimelineEntry(e.at(), null, e.status().name(), 0, e.reason()));
    return new Active(s.instanceId(), s.spec(), s.startedAt(), e.status(), e.reason(), e.at(), s.steps(),
        List.copyOf(timeline));
  }

  private static Active withStatus(Active s, InstanceStatus status, TimelineEntry entry) {
    List<TimelineEntry> timeline = new ArrayList<>(s.timeline());
    timeline.add(entry);
    return new Active(s.instanceId(), s.spec(), s.startedAt(), status, s.reason(), s.finishedAt(), s.steps(),
        List.copyOf(timeline));
  }

  private static Active withStep(Active s, String stepId, StepRun run, TimelineEntry entry) {
    Map<String, StepRun> steps = new LinkedHashMap<>(s.steps());
    steps.put(stepId, run);
    List<TimelineEntry> timeline = s.timeline();
    if (entry != null) {
      List<TimelineEntry> t = new ArrayList<>(timeline);
      t.add(entry);
      timeline = List.copyOf(t);
    }
    return new Active(s.instanceId(), s.spec(), s.startedAt(), s.status(), s.reason(), s.finishedAt(),
        java.util.Collections.unmodifiableMap(steps), timeline);
  }

  // ----------------------------------------------------------------------------------- signals

  @Override
  public SignalHandler<State> signalHandler() {
    return newSignalHandlerBuilder()
        .onSignal(RecoveryCompleted.instance(), state -> {
          if (state instanceof Active a) {
            resume(a);
          }
        })
        .build();
  }

  /** Foreach progress feeds the iterations read side ({@link IterationReadSide}); nothing else is tagged. */
  @Override
  public java.util.Set<String> tagsFor(Event event) {
    return event instanceof IterationsProgressed ? ITERATION_TAGS : java.util.Set.of();
  }

  private static final java.util.Set<String> ITERATION_TAGS = java.util.Set.of(IterationReadSide.TAG);

  @Override
  public RetentionCriteria retentionCriteria() {
    return isChild() ? RetentionCriteria.disabled() : RetentionCriteria.snapshotEvery(engine.settings().snapshotEvery(), 2);
  }

  /**
   * Children (foreach iterations, sub-workflows) journal a handful of events each, and there can be
   * 100,000 of them: skipping the snapshot lookup saves one query per child start (measured: the
   * backfill's iterations/s is bounded by queries per child). Top-level instances snapshot.
   */
  @Override
  public akka.persistence.typed.javadsl.Recovery recovery() {
    return isChild()
        ? akka.persistence.typed.javadsl.Recovery.withSnapshotSelectionCriteria(
            akka.persistence.typed.SnapshotSelectionCriteria.none())
        : super.recovery();
  }

  private boolean isChild() {
    return instanceId.contains(SEPARATOR);
  }
}
