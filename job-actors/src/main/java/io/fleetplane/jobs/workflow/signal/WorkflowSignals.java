package io.fleetplane.jobs.workflow.signal;

import akka.actor.CoordinatedShutdown;
import akka.actor.typed.ActorSystem;
import com.fasterxml.jackson.databind.JsonNode;
import io.fleetplane.config.metrics.Metrics;
import io.fleetplane.jobs.workflow.WorkflowEngine;
import io.fleetplane.jobs.workflow.domain.Expressions;
import io.fleetplane.jobs.workflow.signal.SignalStore.Signal;
import io.fleetplane.jobs.workflow.signal.SignalStore.Subscription;
import io.fleetplane.jobs.workflow.signal.SignalStore.Trigger;
import io.fleetplane.persistence.PersistenceSettings;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.regex.Pattern;

/**
 * Signals and the subscriptions that turn them into workflow instances.
 *
 * <p>{@link #publish}: store the signal (first version of an id wins), then for every subscription
 * to its name whose condition holds, start an instance with requestId
 * {@code signal:<signalId>:<subscriptionId>} and record the trigger. Every delivery of a signal id
 * (HTTP retry, Kafka redelivery) runs this again: the starts name the same instances, so a signal
 * starts each subscribed workflow once. A condition that fails to evaluate is counted
 * ({@code fleetplane_workflows_signal_condition_failed}) and does not start anything; a start that
 * fails fails the publish, and the caller's retry completes it.
 */
public final class WorkflowSignals {

  public static final String INVALID = "signal.invalid";
  public static final String NOT_FOUND = "signal.not-found";
  public static final String SUBSCRIPTION_INVALID = "subscription.invalid";
  public static final String SUBSCRIPTION_NOT_FOUND = "subscription.not-found";
  /** A path id that no signal or subscription could have: 400, before any lookup. */
  public static final String ID_INVALID = "signal.id-invalid";
  public static final String SUBSCRIPTION_ID_INVALID = "subscription.id-invalid";

  private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._:-]{0,127}");
  /**
   * Signal ids are chosen by senders (for exactly-once) or generated. They appear in URLs, logs
   * and SQL, so they are printable and path-safe: no spaces, slashes, control characters or NUL.
   */
  private static final Pattern SIGNAL_ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._:@~-]{0,199}");

  /** Whether {@code id} is a well-formed signal id (generated ids and Kafka-derived ids are). */
  public static boolean isValidSignalId(String id) {
    return id != null && SIGNAL_ID.matcher(id).matches();
  }

  /** Rejected input (HTTP 400 with {@link #code()} and {@link #field()}). */
  public static final class InvalidSignalException extends io.fleetplane.jobs.workflow.RejectedRequestException {
    public InvalidSignalException(String code, String field, String message) {
      super(code, field, message);
    }
  }

  /** A signal or subscription does not exist (HTTP 404 with {@link #code()}). */
  public static final class NotFoundException extends RuntimeException {
    private final String code;

    public NotFoundException(String code, String message) {
      super(message, null, false, false);
      this.code = code;
    }

    public String code() {
      return code;
    }
  }

  /** What a publish did: whether the id was seen before, and the instances it (now or earlier) started. */
  public record Published(Signal signal, boolean duplicate, List<Trigger> triggered) {}

  /**
   * By identity: typed ActorSystems with the same name are equal (their path is akka://name/user),
   * so two nodes in one JVM (tests, restarts) would share, and the first to stop would remove, one entry.
   */
  private static final Map<ActorSystem<?>, WorkflowSignals> ALL =
      java.util.Collections.synchronizedMap(new java.util.IdentityHashMap<>());

  /** What a gate check found: the signal that opened the gate already, else the candidates to try. */
  public record GateCheck(Optional<String> opened, List<Signal> candidates) {}

  /** A signal and everything it led to or came from (lineage, signal -> ...). */
  public record SignalLineage(Signal signal, List<Trigger> triggered, List<SignalStore.GateOpening> unblocked,
      Optional<SignalStore.Origin> publishedBy) {}

  /** What an instance's steps did with signals (lineage, instance -> ...). */
  public record InstanceSignals(List<SignalStore.GateOpening> unblockedBy, List<SignalStore.Origin> published) {}

  private final WorkflowEngine engine;
  private final SignalStore store;
  private final Clock clock;
  private final java.time.Duration gatePollInterval;
  private final int gateCandidates;

  WorkflowSignals(WorkflowEngine engine, SignalStore store, Clock clock, java.time.Duration gatePollInterval,
      int gateCandidates) {
    this.engine = engine;
    this.store = store;
    this.clock = clock;
    this.gatePollInterval = gatePollInterval;
    this.gateCandidates = gateCandidates;
  }

  /** Call after {@link WorkflowEngine#start}. */
  public static WorkflowSignals start(ActorSystem<?> system) {
    WorkflowEngine engine = WorkflowEngine.get(system);
    SignalStore store = new SignalStore(PersistenceSettings.fromConfig(system.settings().config()),
        system.settings().config().getInt("fleetplane.workflows.signals.pool-size"));
    var config = system.settings().config().getConfig("fleetplane.workflows.signals");
    WorkflowSignals signals = new WorkflowSignals(engine, store, Clock.systemUTC(),
        config.getDuration("gate-poll-interval"), config.getInt("gate-candidates"));
    ALL.put(system, signals);
    system.getWhenTerminated().thenRun(() -> ALL.remove(system));
    CoordinatedShutdown.get(system).addTask(CoordinatedShutdown.PhaseBeforeActorSystemTerminate(),
        "close-signal-store", () -> {
          store.close();
          return CompletableFuture.completedFuture(akka.Done.getInstance());
        });
    return signals;
  }

  public static WorkflowSignals get(ActorSystem<?> system) {
    WorkflowSignals s = ALL.get(system);
    if (s == null) {
      throw new IllegalStateException("WorkflowSignals.start(system) was not called for " + system.name());
    }
    return s;
  }

  /** The signals of this system, if {@link #start} was called (workflow signal steps use it). */
  public static Optional<WorkflowSignals> find(ActorSystem<?> system) {
    return Optional.ofNullable(ALL.get(system));
  }

  /** The requestId of a signal through a subscription: the engine's de-duplication key. */
  public static String requestId(String signalId, String subscriptionId) {
    return "signal:" + signalId + ":" + subscriptionId;
  }

  /**
   * Validates a signal from outside.
   *
   * @param signalId empty: a new random id (then a retry is a new signal: give ids for exactly-once)
   * @param time empty: now
   */
  public Signal signal(Optional<String> signalId, String name, Map<String, JsonNode> params, Optional<Instant> time,
      String source) {
    if (name == null || !NAME.matcher(name).matches()) {
      throw new InvalidSignalException(INVALID, "name", "name is 1-128 characters of letters, digits and . _ : -,"
          + " starting with a letter or digit");
    }
    if (signalId.isPresent() && !isValidSignalId(signalId.get())) {
      throw new InvalidSignalException(INVALID, "signalId", "signalId is 1-200 letters, digits and . _ : @ ~ -,"
          + " starting with a letter or digit");
    }
    return new Signal(signalId.orElseGet(() -> UUID.randomUUID().toString()), name, Map.copyOf(params),
        time.orElseGet(clock::instant), source);
  }

  public CompletionStage<Published> publish(Signal signal) {
    return store.insert(signal).thenCompose(isNew -> {
      Metrics.increment("fleetplane_workflows_signals_received", Map.of("source", signal.source(),
          "duplicate", Boolean.toString(!isNew)));
      // A duplicate is processed again: its first delivery may have stopped half-way. The stored
      // version (first wins) is what subscriptions see.
      CompletionStage<Signal> effective = isNew ? CompletableFuture.completedFuture(signal)
          : store.get(signal.signalId()).thenApply(s -> s.orElse(signal));
      return effective.thenCompose(s -> wakeGates(s).thenCompose(woken -> store.subscriptionsTo(s.name())).thenCompose(subs -> {
        CompletableFuture<Void> chain = CompletableFuture.completedFuture(null);
        for (Subscription sub : subs) {
          chain = chain.thenCompose(x -> trigger(s, sub).toCompletableFuture());
        }
        return chain.thenCompose(x -> store.triggersOf(s.signalId()))
            .thenApply(triggers -> new Published(s, !isNew, triggers));
      }));
    });
  }

  /**
   * Tells every instance with a gate waiting for this name to check it now: the prompt path (the
   * instance's own poll is the safety net for a lost wake-up). The instance decides whether the
   * signal matches; a stored signal is in the history every check reads, so the order of store
   * and wake-up cannot lose it.
   */
  private CompletionStage<Void> wakeGates(Signal s) {
    return store.instancesWaitingFor(s.name()).thenAccept(ids -> ids.forEach(id ->
        engine.checkSignalGates(id, "signal " + s.signalId())));
  }

  /** Publishes a signal a workflow step made, recording the step as its origin (lineage). */
  public CompletionStage<Published> publishFromStep(Signal signal, String instanceId, String workflowId,
      String stepId) {
    return publish(signal).thenCompose(p -> !"workflow".equals(p.signal().source()) ? CompletableFuture.completedFuture(p)
        // A signal id that another source sent first is not this step's: no origin for it.
        : store.recordOrigin(new SignalStore.Origin(p.signal().signalId(), instanceId, workflowId, stepId))
            .thenApply(x -> p));
  }

  /** How often a waiting gate checks the history by itself (the safety net under publish's wake-up). */
  public java.time.Duration gatePollInterval() {
    return gatePollInterval;
  }

  /**
   * Registers a waiting gate and reads what could open it: the signal that already did (a claim
   * made before a crash), or the signals of its name received since {@code since}, oldest first.
   */
  public CompletionStage<GateCheck> checkGate(String instanceId, String workflowId, String stepId, String signalName,
      Instant since) {
    return store.registerGate(instanceId, stepId, workflowId, signalName, since).thenCompose(opened -> opened.isPresent()
        ? CompletableFuture.completedFuture(new GateCheck(opened, List.of()))
        : store.receivedSince(signalName, since, gateCandidates).thenApply(c -> new GateCheck(Optional.empty(), c)));
  }

  /** Opens a gate with a signal; answers the signal that opened it (an earlier claim wins). */
  public CompletionStage<Optional<String>> claimGate(String instanceId, String stepId, String signalId) {
    return store.claimGate(instanceId, stepId, signalId);
  }

  /** The gate stopped waiting without a signal (timed out, cancelled): publish no longer wakes it. */
  public CompletionStage<Void> dropWaitingGate(String instanceId, String stepId) {
    return store.dropWaitingGate(instanceId, stepId);
  }

  /** The variables a gate condition reads a candidate signal as ({@code signal.params.x}, ...). */
  public static JsonNode gateVariable(Signal s) {
    var node = com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.objectNode();
    node.put("signalId", s.signalId());
    node.put("name", s.name());
    node.put("source", s.source());
    node.put("time", s.time().toString());
    node.putObject("params").setAll(s.params());
    return node;
  }

  private CompletionStage<Void> trigger(Signal s, Subscription sub) {
    Expressions.Scope scope = scope(s);
    Map<String, JsonNode> params = new LinkedHashMap<>();
    try {
      if (!sub.condition().isBlank() && !engine.expressions().test(Expressions.unwrap(sub.condition()), scope)) {
        return CompletableFuture.completedFuture(null);
      }
      sub.paramMapping().forEach((k, v) -> params.put(k, engine.expressions().resolve(v, scope)));
    } catch (Expressions.ExpressionException e) {
      Metrics.increment("fleetplane_workflows_signal_condition_failed");
      return CompletableFuture.completedFuture(null);
    }
    return engine.startInstance(sub.workflowId(), Optional.empty(), params,
            Optional.of(requestId(s.signalId(), sub.subscriptionId())))
        .thenCompose(view -> store.recordTrigger(s.signalId(), sub.subscriptionId(), sub.workflowId(),
            view.instanceId()))
        .thenRun(() -> Metrics.increment("fleetplane_workflows_signal_triggered"));
  }

  private static Expressions.Scope scope(Signal s) {
    return new Expressions.Scope(s.params(), Map.of(), s.time(), Map.of("signalId", s.signalId(), "name", s.name(),
        "source", s.source()), Map.of());
  }

  /** The signal and what it started (lineage, signal -> instances). */
  public CompletionStage<Published> get(String signalId) {
    return store.get(signalId).thenCompose(s -> {
      Signal signal = s.orElseThrow(() -> new NotFoundException(NOT_FOUND, "No signal " + signalId + "."));
      return store.triggersOf(signalId).thenApply(t -> new Published(signal, true, t));
    });
  }

  /** The signal, what it started, the gates it opened and the step that published it. */
  public CompletionStage<SignalLineage> lineage(String signalId) {
    return store.get(signalId).thenCompose(s -> {
      Signal signal = s.orElseThrow(() -> new NotFoundException(NOT_FOUND, "No signal " + signalId + "."));
      return store.triggersOf(signalId).thenCompose(t -> store.gatesOpenedBy(signalId).thenCompose(g ->
          store.originOf(signalId).thenApply(o -> new SignalLineage(signal, t, g, o))));
    });
  }

  /** The signals that opened an instance's gates and those its steps published. */
  public CompletionStage<InstanceSignals> signalsOf(String instanceId) {
    return store.gatesOpenedIn(instanceId).thenCompose(g -> store.publishedBy(instanceId)
        .thenApply(p -> new InstanceSignals(g, p)));
  }

  /** The signal trigger that started an instance, if a signal started it. */
  public CompletionStage<Optional<Trigger>> startedBy(String instanceId) {
    return store.triggerOfInstance(instanceId);
  }

  /**
   * Subscribes a workflow to signals of a name.
   *
   * @param condition CEL over {@code params} (the signal's), {@code now} (its time) and {@code instance}
   *     ({@code signalId}, {@code name}, {@code source}); empty = every signal of the name
   * @param paramMapping workflow param -> value, {@code ${expr}} templates as in step params
   */
  public CompletionStage<Subscription> subscribe(String workflowId, String signalName, String condition,
      Map<String, JsonNode> paramMapping) {
    try {
      if (signalName == null || !NAME.matcher(signalName).matches()) {
        throw new InvalidSignalException(SUBSCRIPTION_INVALID, "signal", "signal is a signal name: 1-128 characters"
            + " of letters, digits and . _ : -");
      }
      if (!condition.isBlank()) {
        check(condition, "condition");
      }
      paramMapping.forEach((k, v) -> Expressions.expressionsIn(v).forEach(e -> check(e, "params." + k)));
    } catch (RuntimeException e) {
      return CompletableFuture.failedFuture(e);
    }
    return engine.store().get(workflowId, Optional.empty()).thenCompose(found -> {
      var d = found.orElseThrow(() -> new WorkflowEngine.WorkflowNotFoundException("workflow " + workflowId
          + " does not exist"));
      List<String> unknown = new ArrayList<>(paramMapping.keySet());
      unknown.removeAll(d.definition().params().keySet());
      if (!unknown.isEmpty()) {
        throw new InvalidSignalException(SUBSCRIPTION_INVALID, "params", "workflow " + workflowId
            + " declares no parameter(s) " + unknown + "; declared: " + d.definition().params().keySet());
      }
      return store.insert(new Subscription(UUID.randomUUID().toString(), workflowId, signalName, condition,
          Map.copyOf(paramMapping), clock.instant()));
    });
  }

  private void check(String expression, String field) {
    try {
      engine.expressions().check(Expressions.unwrap(expression), Set.of());
    } catch (Expressions.ExpressionException e) {
      throw new InvalidSignalException(SUBSCRIPTION_INVALID, field, e.getMessage());
    }
  }

  public CompletionStage<List<Subscription>> subscriptions(String workflowId) {
    return store.subscriptionsOf(workflowId);
  }

  public CompletionStage<Subscription> subscription(String workflowId, String subscriptionId) {
    return store.subscription(subscriptionId).thenApply(s -> s.filter(x -> x.workflowId().equals(workflowId))
        .orElseThrow(() -> new NotFoundException(SUBSCRIPTION_NOT_FOUND, "No subscription " + subscriptionId
            + " on workflow " + workflowId + ".")));
  }

  public CompletionStage<Void> unsubscribe(String workflowId, String subscriptionId) {
    return subscription(workflowId, subscriptionId).thenCompose(s -> store.deleteSubscription(subscriptionId))
        .thenApply(x -> null);
  }
}
