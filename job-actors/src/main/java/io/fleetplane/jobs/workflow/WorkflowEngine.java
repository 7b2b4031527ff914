package io.fleetplane.jobs.workflow;

import akka.actor.CoordinatedShutdown;
import akka.actor.typed.ActorSystem;
import akka.cluster.sharding.typed.javadsl.ClusterSharding;
import akka.pattern.StatusReply;
import com.fasterxml.jackson.databind.JsonNode;
import io.fleetplane.config.ErrorCode;
import io.fleetplane.config.InvalidInputException;
import io.fleetplane.jobs.workflow.WorkflowDefinitionStore.StoredDefinition;
import io.fleetplane.jobs.workflow.WorkflowInstance.InstanceView;
import io.fleetplane.jobs.workflow.WorkflowInstance.ParentRef;
import io.fleetplane.jobs.workflow.WorkflowInstance.StartSpec;
import io.fleetplane.jobs.workflow.domain.DefinitionParser;
import io.fleetplane.jobs.workflow.domain.Expressions;
import io.fleetplane.persistence.PersistenceSettings;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The workflow engine of one node: CEL, the definition store, the HTTP step client and the
 * sharded {@link WorkflowInstance}s. {@link #startInstance} is the one way to start a top-level
 * instance (HTTP today, schedules and signals later): with a {@code requestId} the instance id is
 * derived from (workflow, requestId), so the same trigger delivered twice starts one instance.
 */
public final class WorkflowEngine {

  private static final Logger log = LoggerFactory.getLogger(WorkflowEngine.class);

  /** The workflow or version does not exist (HTTP 404 {@code workflow.not-found}). */
  public static final class WorkflowNotFoundException extends RuntimeException {
    public WorkflowNotFoundException(String message) {
      super(message, null, false, false);
    }
  }

  /**
   * A first-only workflow already has an instance running or waiting: the start is refused
   * (HTTP 409 {@code workflow.run-rejected}); start again after it finishes.
   */
  public static final class RunRejectedException extends RuntimeException {
    public RunRejectedException(String message) {
      super(message, null, false, false);
    }
  }

  /** Stable codes of the workflow API (HTTP problem documents, metric tags). */
  public static final String NOT_FOUND = "workflow.not-found";
  public static final String INSTANCE_NOT_FOUND = "workflow.instance-not-found";
  public static final String INVALID_PARAMS = "workflow.invalid-params";
  public static final String INSTANCE_FINISHED = "workflow.instance-finished";
  public static final String INSTANCE_NOT_FAILED = "workflow.instance-not-failed";
  public static final String INSTANCE_STATE_CONFLICT = "workflow.instance-state-conflict";
  public static final String RUN_REJECTED = "workflow.run-rejected";
  /** The instance's definition has no step with this id (HTTP 404). */
  public static final String STEP_NOT_FOUND = "workflow.step-not-found";
  /** The step exists but is not a foreach, so it has no iterations (HTTP 404). */
  public static final String STEP_NOT_FOREACH = "workflow.step-not-foreach";

  /** By identity: same-name typed ActorSystems are equal (see WorkflowSignals' registry). */
  private static final Map<ActorSystem<?>, WorkflowEngine> ENGINES =
      java.util.Collections.synchronizedMap(new java.util.IdentityHashMap<>());

  private final ActorSystem<?> system;
  private final WorkflowSettings settings;
  private final Expressions expressions;
  private final WorkflowDefinitionStore store;
  private final HttpStepClient http = new HttpStepClient();
  private final ClusterSharding sharding;
  private final akka.actor.typed.ActorRef<StepSlots.Command> slots;
  private volatile Optional<DeviceCommandGateway> deviceCommands = Optional.empty();
  private final IterationReadSide iterations;

  private WorkflowEngine(ActorSystem<?> system, WorkflowSettings settings, WorkflowDefinitionStore store,
      Expressions expressions) {
    this.system = system;
    this.settings = settings;
    this.store = store;
    this.expressions = expressions;
    this.sharding = ClusterSharding.get(system);
    this.iterations = IterationReadSide.start(system, PersistenceSettings.fromConfig(system.settings().config()),
        IterationReadSide.Settings.fromConfig(system.settings().config()));
    this.slots = system.systemActorOf(StepSlots.create(settings.stepTypeLimits()), "workflow-step-slots",
        akka.actor.typed.Props.empty());
    if (!settings.stepTypeLimits().isEmpty()) {
      log.info("Step type limits on this node: {}", settings.stepTypeLimits());
    }
  }

  /** Starts sharding for instances and wakes every top-level instance that had not finished. */
  public static WorkflowEngine start(ActorSystem<?> system) {
    WorkflowSettings settings = WorkflowSettings.fromConfig(system.settings().config());
    Expressions expressions = new Expressions(settings.expressionLimits());
    WorkflowDefinitionStore store = new WorkflowDefinitionStore(
        PersistenceSettings.fromConfig(system.settings().config()), settings.storePoolSize(),
        new DefinitionParser(expressions, settings.maxSteps(), settings.maxConcurrency()));
    WorkflowEngine engine = new WorkflowEngine(system, settings, store, expressions);
    WorkflowInstance.init(system, engine);
    WorkflowRunGate.init(system);
    ENGINES.put(system, engine);
    system.getWhenTerminated().thenRun(() -> ENGINES.remove(system));
    CoordinatedShutdown.get(system).addTask(CoordinatedShutdown.PhaseBeforeActorSystemTerminate(),
        "close-workflow-store", () -> {
          store.close();
          return CompletableFuture.completedFuture(akka.Done.getInstance());
        });
    store.activeInstances().whenComplete((ids, error) -> {
      if (error != null) {
        log.error("Could not list unfinished workflow instances; they resume when next addressed", error);
        return;
      }
      if (!ids.isEmpty()) {
        log.info("Waking {} unfinished workflow instance(s)", ids.size());
      }
      ids.forEach(id -> engine.sharding.entityRefFor(WorkflowInstance.ENTITY_TYPE_KEY, id)
          .tell(new WorkflowInstance.Wake("node start")));
    });
    return engine;
  }

  /** The engine {@link #start} started on this actor system (routes find it here). */
  public static WorkflowEngine get(ActorSystem<?> system) {
    WorkflowEngine engine = ENGINES.get(system);
    if (engine == null) {
      throw new IllegalStateException("WorkflowEngine.start(system) was not called for " + system.name());
    }
    return engine;
  }

  public WorkflowSettings settings() {
    return settings;
  }

  public Expressions expressions() {
    return expressions;
  }

  public WorkflowDefinitionStore store() {
    return store;
  }

  HttpStepClient http() {
    return http;
  }

  ClusterSharding sharding() {
    return sharding;
  }

  /** Foreach iterations, a page at a time (the parent instance keeps only counters). */
  public IterationReadSide iterations() {
    return iterations;
  }

  akka.actor.typed.ActorRef<StepSlots.Command> slots() {
    return slots;
  }

  /**
   * Plugs in how device-command steps reach devices (the node does, once its command API runs).
   * Until then such steps fail as platform errors, which their retry policy may retry.
   */
  public void deviceCommands(DeviceCommandGateway gateway) {
    this.deviceCommands = Optional.of(gateway);
  }

  /** The gateway device-command steps use, once the node plugged one in. */
  public Optional<DeviceCommandGateway> deviceCommands() {
    return deviceCommands;
  }

  /**
   * Starts a top-level instance of a stored workflow.
   *
   * @param version empty for the latest
   * @param params overrides of the definition's declared params (undeclared names are rejected)
   * @param requestId de-duplication key: the same (workflow, requestId) always names one instance
   */
  /**
   * The id of the instance a start with this requestId names: a trigger (a schedule's fire time, a
   * signal) can record which instance it starts before starting it.
   */
  public static String instanceIdFor(String workflowId, String requestId) {
    return UUID.nameUUIDFromBytes((workflowId + "\n" + requestId).getBytes(StandardCharsets.UTF_8)).toString();
  }

  public CompletionStage<InstanceView> startInstance(String workflowId, Optional<Integer> version,
      Map<String, JsonNode> params, Optional<String> requestId) {
    return store.get(workflowId, version).thenCompose(found -> {
      StoredDefinition d = found.orElseThrow(() -> new WorkflowNotFoundException("workflow " + workflowId
          + version.map(v -> " version " + v).orElse("") + " does not exist"));
      Map<String, JsonNode> merged = mergeParams(d, params);
      String instanceId = requestId.map(r -> instanceIdFor(workflowId, r))
          .orElseGet(() -> UUID.randomUUID().toString());
      return store.markActive(instanceId, workflowId).thenCompose(x -> admit(d, instanceId)).thenCompose(queued ->
          sharding.entityRefFor(WorkflowInstance.ENTITY_TYPE_KEY, instanceId)
              .<StatusReply<InstanceView>>ask(reply -> new WorkflowInstance.Start(new StartSpec(workflowId,
                  d.version(), d.definition().steps(), merged, Map.of(), Optional.empty(), requestId, Instant.now(),
                  d.definition().timeout(), d.definition().runLimit().isPresent(), queued), reply),
                  settings.askTimeout())
              .thenApply(StatusReply::getValue));
    });
  }

  /**
   * True when the workflow's running limit is reached and the instance must wait its turn; fails
   * with {@link RunRejectedException} when its run strategy (first-only) refuses it.
   */
  private CompletionStage<Boolean> admit(StoredDefinition d, String instanceId) {
    if (d.definition().runLimit().isEmpty()) {
      return CompletableFuture.completedFuture(false);
    }
    int limit = d.definition().runLimit().get();
    return sharding.entityRefFor(WorkflowRunGate.ENTITY_TYPE_KEY, d.workflowId())
        .<WorkflowRunGate.AdmitReply>ask(reply -> new WorkflowRunGate.Admit(instanceId, limit,
                d.definition().runStrategy(), reply), settings.askTimeout())
        .thenCompose(reply -> {
          if (reply instanceof WorkflowRunGate.Rejected r) {
            // Marked active before the gate was asked: this instance will never exist.
            return store.markFinished(instanceId).thenApply(x -> {
              throw new RunRejectedException("workflow " + d.workflowId() + " runs first-only and instance(s) "
                  + r.blocking() + " are running or waiting; start again when they have finished");
            });
          }
          return CompletableFuture.completedFuture(reply instanceof WorkflowRunGate.Queued);
        });
  }

  /** The spec of a sub-workflow child (its definition loaded from the store). */
  CompletionStage<StartSpec> childSpec(String workflowId, Optional<Integer> version, JsonNode params,
      ParentRef parent, Instant runTime) {
    return store.get(workflowId, version).thenApply(found -> {
      StoredDefinition d = found.orElseThrow(() -> new WorkflowNotFoundException("sub-workflow " + workflowId
          + version.map(v -> " version " + v).orElse("") + " does not exist"));
      Map<String, JsonNode> given = new LinkedHashMap<>();
      if (params != null && params.isObject()) {
        params.fields().forEachRemaining(f -> given.put(f.getKey(), f.getValue()));
      }
      return new StartSpec(workflowId, d.version(), d.definition().steps(), mergeParams(d, given), Map.of(),
          Optional.of(parent), Optional.empty(), runTime, d.definition().timeout(), false, false);
    });
  }

  private static Map<String, JsonNode> mergeParams(StoredDefinition d, Map<String, JsonNode> given) {
    List<String> unknown = given.keySet().stream().filter(k -> !d.definition().params().containsKey(k)).sorted()
        .toList();
    if (!unknown.isEmpty()) {
      throw new InvalidInputException(ErrorCode.REQUEST_INVALID, "workflow " + d.workflowId() + " version "
          + d.version() + " declares no parameter(s) " + unknown + "; declared: "
          + d.definition().params().keySet());
    }
    Map<String, JsonNode> merged = new LinkedHashMap<>(d.definition().params());
    merged.putAll(given);
    return merged;
  }

  /** Asks an instance's gated steps to check the signal history now (no reply; see WorkflowInstance.CheckSignalGates). */
  public void checkSignalGates(String instanceId, String why) {
    sharding.entityRefFor(WorkflowInstance.ENTITY_TYPE_KEY, instanceId).tell(new WorkflowInstance.CheckSignalGates(why));
  }

  public CompletionStage<WorkflowInstance.GetReply> get(String instanceId) {
    return sharding.entityRefFor(WorkflowInstance.ENTITY_TYPE_KEY, instanceId)
        .ask(WorkflowInstance.Get::new, settings.askTimeout());
  }

  public CompletionStage<StatusReply<InstanceView>> pause(String instanceId) {
    return sharding.entityRefFor(WorkflowInstance.ENTITY_TYPE_KEY, instanceId)
        .ask(WorkflowInstance.Pause::new, settings.askTimeout());
  }

  public CompletionStage<StatusReply<InstanceView>> resume(String instanceId) {
    return sharding.entityRefFor(WorkflowInstance.ENTITY_TYPE_KEY, instanceId)
        .ask(WorkflowInstance.Resume::new, settings.askTimeout());
  }

  public CompletionStage<StatusReply<InstanceView>> restartFailed(String instanceId) {
    return sharding.entityRefFor(WorkflowInstance.ENTITY_TYPE_KEY, instanceId)
        .ask(WorkflowInstance.RestartFailed::new, settings.askTimeout());
  }

  public CompletionStage<StatusReply<InstanceView>> cancel(String instanceId, String reason) {
    return sharding.entityRefFor(WorkflowInstance.ENTITY_TYPE_KEY, instanceId)
        .ask(reply -> new WorkflowInstance.Cancel(reason, reply), settings.askTimeout());
  }
}
