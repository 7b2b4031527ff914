package io.fleetplane.jobs.workflow.schedule;

import akka.actor.CoordinatedShutdown;
import akka.actor.typed.ActorRef;
import akka.actor.typed.ActorSystem;
import akka.actor.typed.SupervisorStrategy;
import akka.actor.typed.javadsl.Behaviors;
import akka.cluster.typed.ClusterSingleton;
import akka.cluster.typed.ClusterSingletonSettings;
import akka.cluster.typed.SingletonActor;
import com.fasterxml.jackson.databind.JsonNode;
import io.fleetplane.jobs.workflow.WorkflowEngine;
import io.fleetplane.jobs.workflow.schedule.ScheduleStore.Fire;
import io.fleetplane.jobs.workflow.schedule.ScheduleStore.Schedule;
import io.fleetplane.jobs.workflow.schedule.domain.CatchUp;
import io.fleetplane.jobs.workflow.schedule.domain.Timing;
import io.fleetplane.persistence.PersistenceSettings;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * Schedules on workflow definitions: the operations the API calls, and start-up of the
 * {@link WorkflowScheduler} cluster singleton. Every change is written to the store first and then
 * announced to the singleton (which also re-reads everything every {@code refresh-interval}, so a
 * lost notice only delays a change).
 */
public final class WorkflowSchedules {

  /** Stable codes (HTTP problem documents, metric tags). */
  public static final String NOT_FOUND = "schedule.not-found";
  public static final String INVALID = "schedule.invalid";
  /** A path id that is not a schedule id at all (not a UUID): 400, before any lookup. */
  public static final String ID_INVALID = "schedule.id-invalid";
  public static final String TOO_MANY = "schedule.too-many";

  /** The schedule does not exist (for that workflow). */
  public static final class ScheduleNotFoundException extends RuntimeException {
    public ScheduleNotFoundException(String message) {
      super(message, null, false, false);
    }
  }

  /** A request the API rejects with 400 and {@link #code()}. */
  public static final class InvalidScheduleException extends io.fleetplane.jobs.workflow.RejectedRequestException {
    public InvalidScheduleException(String code, String field, String message) {
      super(code, field, message);
    }
  }

  /**
   * What a client asks for.
   *
   * @param expression cron (5 or 6 fields) or hourly/daily/weekly/monthly
   * @param timeZone empty for UTC
   * @param catchUp empty for skip
   * @param maxCatchUp empty for the configured default
   * @param params workflow params of each started instance (must be declared by the workflow)
   */
  public record ScheduleRequest(String expression, Optional<String> timeZone, Optional<String> catchUp,
      Optional<Integer> maxCatchUp, Map<String, JsonNode> params, boolean enabled) {}

  /** A schedule and its next fire times (none while disabled). */
  public record ScheduleView(String scheduleId, String workflowId, String expression, String timeZone,
      String catchUp, int maxCatchUp, Map<String, JsonNode> params, boolean enabled, Instant watermark,
      Instant createdAt, Instant updatedAt, List<Instant> nextFireTimes) {}

  /** By identity: same-name typed ActorSystems are equal (see WorkflowSignals' registry). */
  private static final Map<ActorSystem<?>, WorkflowSchedules> ALL =
      java.util.Collections.synchronizedMap(new java.util.IdentityHashMap<>());

  private final WorkflowEngine engine;
  private final ScheduleStore store;
  private final ScheduleSettings settings;
  private final ActorRef<WorkflowScheduler.Command> scheduler;
  private final Clock clock;

  private WorkflowSchedules(WorkflowEngine engine, ScheduleStore store, ScheduleSettings settings,
      ActorRef<WorkflowScheduler.Command> scheduler, Clock clock) {
    this.engine = engine;
    this.store = store;
    this.settings = settings;
    this.scheduler = scheduler;
    this.clock = clock;
  }

  /** Starts the singleton (or its proxy, when this node may not host it). Call after {@link WorkflowEngine#start}. */
  public static WorkflowSchedules start(ActorSystem<?> system) {
    WorkflowEngine engine = WorkflowEngine.get(system);
    ScheduleSettings settings = ScheduleSettings.fromConfig(system.settings().config());
    ScheduleStore store = new ScheduleStore(PersistenceSettings.fromConfig(system.settings().config()),
        settings.poolSize());
    Clock clock = Clock.systemUTC();
    ClusterSingletonSettings singletonSettings = ClusterSingletonSettings.create(system);
    if (!settings.runScheduler()) {
      // A role nobody has: this node only ever talks to the singleton through its proxy.
      singletonSettings = singletonSettings.withRole("workflow-scheduler-disabled-here");
    }
    ActorRef<WorkflowScheduler.Command> proxy = ClusterSingleton.get(system).init(SingletonActor.of(
        Behaviors.supervise(WorkflowScheduler.create(engine, store, settings, clock))
            .onFailure(SupervisorStrategy.restartWithBackoff(Duration.ofSeconds(1), Duration.ofSeconds(30), 0.2)),
        "workflow-scheduler").withStopMessage(new WorkflowScheduler.Stop()).withSettings(singletonSettings));
    WorkflowSchedules schedules = new WorkflowSchedules(engine, store, settings, proxy, clock);
    ALL.put(system, schedules);
    system.getWhenTerminated().thenRun(() -> ALL.remove(system));
    CoordinatedShutdown.get(system).addTask(CoordinatedShutdown.PhaseBeforeActorSystemTerminate(),
        "close-schedule-store", () -> {
          store.close();
          return CompletableFuture.completedFuture(akka.Done.getInstance());
        });
    return schedules;
  }

  public static WorkflowSchedules get(ActorSystem<?> system) {
    WorkflowSchedules s = ALL.get(system);
    if (s == null) {
      throw new IllegalStateException("WorkflowSchedules.start(system) was not called for " + system.name());
    }
    return s;
  }

  public ScheduleStore store() {
    return store;
  }

  /**
   * Validates and stores a schedule of the workflow's latest version.
   *
   * @throws InvalidScheduleException, Timing.InvalidTimingException, WorkflowEngine.WorkflowNotFoundException (in the stage)
   */
  public CompletionStage<ScheduleView> create(String workflowId, ScheduleRequest r) {
    Timing timing;
    CatchUp catchUp;
    int maxCatchUp;
    try {
      timing = Timing.parse(r.expression(), r.timeZone().orElse("UTC"));
      catchUp = r.catchUp().map(c -> {
        try {
          return CatchUp.fromWire(c);
        } catch (IllegalArgumentException e) {
          throw new InvalidScheduleException(INVALID, "catchUp", e.getMessage());
        }
      }).orElse(CatchUp.SKIP);
      maxCatchUp = r.maxCatchUp().orElse(settings.defaultMaxCatchUp());
      if (maxCatchUp < 1 || maxCatchUp > settings.maxCatchUpLimit()) {
        throw new InvalidScheduleException(INVALID, "maxCatchUp", "maxCatchUp is an integer in [1, "
            + settings.maxCatchUpLimit() + "]");
      }
    } catch (RuntimeException e) {
      return CompletableFuture.failedFuture(e);
    }
    return engine.store().get(workflowId, Optional.empty()).thenCompose(found -> {
      var d = found.orElseThrow(() -> new WorkflowEngine.WorkflowNotFoundException("workflow " + workflowId
          + " does not exist"));
      List<String> unknown = r.params().keySet().stream().filter(k -> !d.definition().params().containsKey(k))
          .sorted().toList();
      if (!unknown.isEmpty()) {
        throw new InvalidScheduleException(INVALID, "params", "workflow " + workflowId + " declares no parameter(s) "
            + unknown + "; declared: " + d.definition().params().keySet());
      }
      return store.countOfWorkflow(workflowId);
    }).thenCompose(existing -> {
      // Not atomic with the insert: two concurrent creates may both pass at the limit (one over).
      if (existing >= settings.maxPerWorkflow()) {
        throw new InvalidScheduleException(TOO_MANY, null, "workflow " + workflowId + " already has "
            + existing + " schedules (the limit)");
      }
      Instant now = clock.instant();
      return store.insert(new Schedule(UUID.randomUUID().toString(), workflowId, timing.expression(),
          timing.zone().getId(), catchUp, maxCatchUp, Map.copyOf(r.params()), r.enabled(), now, now, now));
    }).thenApply(s -> {
      scheduler.tell(new WorkflowScheduler.ScheduleChanged(s.scheduleId()));
      return view(s, 5);
    });
  }

  public CompletionStage<List<ScheduleView>> list(String workflowId, int next) {
    return store.ofWorkflow(workflowId).thenApply(all -> all.stream().map(s -> view(s, next)).toList());
  }

  public CompletionStage<ScheduleView> get(String workflowId, String scheduleId, int next) {
    return find(workflowId, scheduleId).thenApply(s -> view(s, next));
  }

  public CompletionStage<ScheduleView> setEnabled(String workflowId, String scheduleId, boolean enabled) {
    return find(workflowId, scheduleId)
        .thenCompose(s -> store.setEnabled(scheduleId, enabled, clock.instant()))
        .thenApply(s -> {
          scheduler.tell(new WorkflowScheduler.ScheduleChanged(scheduleId));
          return view(s.orElseThrow(() -> notFound(workflowId, scheduleId)), 5);
        });
  }

  public CompletionStage<Void> delete(String workflowId, String scheduleId) {
    return find(workflowId, scheduleId).thenCompose(s -> store.delete(scheduleId)).thenAccept(x ->
        scheduler.tell(new WorkflowScheduler.ScheduleChanged(scheduleId)));
  }

  /** The latest fire times a schedule started, newest first, each with its instance. */
  public CompletionStage<List<Fire>> fires(String workflowId, String scheduleId, int limit) {
    return find(workflowId, scheduleId).thenCompose(s -> store.fires(scheduleId, limit));
  }

  /** The schedule fire that started an instance, if a schedule started it. */
  public CompletionStage<Optional<Fire>> startedBy(String instanceId) {
    return store.fireOf(instanceId);
  }

  private CompletionStage<Schedule> find(String workflowId, String scheduleId) {
    return store.get(scheduleId).thenApply(s -> s.filter(x -> x.workflowId().equals(workflowId))
        .orElseThrow(() -> notFound(workflowId, scheduleId)));
  }

  private static ScheduleNotFoundException notFound(String workflowId, String scheduleId) {
    return new ScheduleNotFoundException("No schedule " + scheduleId + " on workflow " + workflowId + ".");
  }

  private ScheduleView view(Schedule s, int next) {
    List<Instant> times = List.of();
    if (s.enabled() && next > 0) {
      Instant now = clock.instant();
      times = Timing.parse(s.expression(), s.timeZone()).nextTimes(now.isAfter(s.watermark()) ? now
          : s.watermark(), next);
    }
    return new ScheduleView(s.scheduleId(), s.workflowId(), s.expression(), s.timeZone(), s.catchUp().wireName(),
        s.maxCatchUp(), s.params(), s.enabled(), s.watermark(), s.createdAt(), s.updatedAt(), times);
  }
}
