package io.fleetplane.http;

import akka.Done;
import akka.actor.CoordinatedShutdown;
import akka.actor.typed.ActorSystem;
import akka.actor.typed.Behavior;
import akka.actor.typed.SupervisorStrategy;
import akka.actor.typed.javadsl.Behaviors;
import akka.cluster.typed.ClusterSingleton;
import akka.cluster.typed.SingletonActor;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.typesafe.config.Config;
import io.fleetplane.config.metrics.Metrics;
import io.fleetplane.jobs.workflow.signal.SignalStore.Signal;
import io.fleetplane.jobs.workflow.signal.WorkflowSignals;
import io.fleetplane.persistence.PersistenceSettings;
import io.fleetplane.registry.readside.DeviceQueries;
import io.fleetplane.registry.readside.PopulationCount;
import java.math.BigDecimal;
import java.math.MathContext;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Device-state predicates as a signal source: registration, and the evaluator that turns a
 * predicate's false -> true edge into exactly one signal.
 *
 * <p><b>Evaluation.</b> One evaluator in the cluster (a Cluster Singleton) counts every predicate's
 * population and matches on the device read side every {@code interval}. On a fixed interval,
 * not when the projection advances: liveness (CONNECTED turns UNKNOWN after silence) changes with
 * time alone, and an interval bounds the database load whatever the ingest rate. A crossing is
 * seen at most one interval plus the read side's lag after the devices reported it.
 *
 * <p><b>Exactly once per crossing.</b> Crossing n of a predicate emits signal id
 * {@code predicate:<id>:<n>}. The crossing is first recorded (compare-and-set on the generation,
 * with the signal's params as pending), then published, then the pending mark is cleared. A crash
 * in between leaves the mark, and the next evaluation publishes the same signal again, which
 * {@link WorkflowSignals#publish} de-duplicates by id: neither a re-evaluation, a restart nor a
 * singleton hand-over emits twice, and none loses the signal.
 *
 * <p><b>Re-arming.</b> When the predicate no longer holds, the evaluator marks it unsatisfied and
 * the next crossing emits crossing n + 1. There is no hysteresis: a fleet flapping around the
 * threshold emits once per upward crossing seen by an evaluation (at most one per interval). A
 * predicate that already holds when registered emits at its first evaluation (generation 1).
 */
final class DevicePredicates {

  static final String SOURCE = "device-predicate";
  static final String METRIC_EVALUATIONS = "fleetplane_signals_predicate_evaluations";
  static final String METRIC_CROSSINGS = "fleetplane_signals_predicate_crossings";

  private static final Logger log = LoggerFactory.getLogger(DevicePredicates.class);

  /** Settings under {@code fleetplane.node.signal-sources.device-predicates}. */
  record Settings(boolean enabled, Duration interval, int poolSize) {
    static Settings fromConfig(Config config) {
      Config c = config.getConfig("fleetplane.node.signal-sources.device-predicates");
      return new Settings(c.getBoolean("enabled"), c.getDuration("interval"), c.getInt("pool-size"));
    }
  }

  private final DevicePredicateStore store;
  private final DeviceQueries queries;
  private final WorkflowSignals signals;
  private final Clock clock;

  DevicePredicates(DevicePredicateStore store, DeviceQueries queries, WorkflowSignals signals, Clock clock) {
    this.store = store;
    this.queries = queries;
    this.signals = signals;
    this.clock = clock;
  }

  /** Opens the store and, when enabled, starts the evaluator (once in the cluster). */
  static DevicePredicates start(ActorSystem<?> system, DeviceQueries queries, WorkflowSignals signals) {
    Config config = system.settings().config();
    Settings settings = Settings.fromConfig(config);
    DevicePredicateStore store = new DevicePredicateStore(PersistenceSettings.fromConfig(config), settings.poolSize());
    DevicePredicates predicates = new DevicePredicates(store, queries, signals, Clock.systemUTC());
    if (settings.enabled()) {
      ClusterSingleton.get(system).init(SingletonActor.of(Behaviors.supervise(evaluator(predicates,
          settings.interval())).onFailure(SupervisorStrategy.restart()), "device-predicate-evaluator"));
    }
    CoordinatedShutdown.get(system).addTask(CoordinatedShutdown.PhaseBeforeActorSystemTerminate(),
        "close-device-predicates", () -> {
          store.close();
          return CompletableFuture.completedFuture(Done.getInstance());
        });
    return predicates;
  }

  // --- registration ----------------------------------------------------------------------------

  CompletionStage<DevicePredicate.Stored> register(JsonNode body) {
    try {
      DevicePredicate.Registration r = DevicePredicate.parse(body);
      return store.insert(UUID.randomUUID().toString(), r, clock.instant());
    } catch (RuntimeException e) {
      return CompletableFuture.failedFuture(e);
    }
  }

  CompletionStage<List<DevicePredicate.Stored>> list() {
    return store.list();
  }

  CompletionStage<java.util.Optional<DevicePredicate.Stored>> get(String id) {
    return store.get(id);
  }

  CompletionStage<Boolean> delete(String id) {
    return store.delete(id);
  }

  // --- evaluation ------------------------------------------------------------------------------

  /** Evaluates every predicate once, one after the other; a failing one does not stop the rest. */
  CompletionStage<Done> evaluateAll() {
    return store.list().thenCompose(all -> {
      CompletableFuture<Void> chain = CompletableFuture.completedFuture(null);
      for (DevicePredicate.Stored p : all) {
        chain = chain.thenCompose(x -> evaluate(p).handle((ok, err) -> {
          if (err != null) {
            Metrics.increment(METRIC_EVALUATIONS, Map.of("result", "failed"));
            log.warn("Evaluating device predicate {} ({}) failed: {}", p.predicateId(), p.name(), err.toString());
          }
          return null;
        }));
      }
      return chain.thenApply(x -> Done.getInstance());
    });
  }

  CompletionStage<Void> evaluate(DevicePredicate.Stored p) {
    CompletionStage<Void> flushed = p.pendingSignal() == null ? CompletableFuture.completedFuture(null)
        : publish(p, p.generation(), p.pendingSignal(), p.lastCrossedAt());
    return flushed
        .thenCompose(x -> queries.count(p.predicate().population(), p.predicate().matching()))
        .thenCompose(count -> {
          Instant now = clock.instant();
          boolean holds = p.predicate().holds(count.total(), count.matching());
          Metrics.increment(METRIC_EVALUATIONS, Map.of("result", holds ? "holds" : "does-not-hold"));
          CompletionStage<Void> transition;
          if (holds && !p.satisfied()) {
            String params = params(p, p.generation() + 1, count, now);
            transition = store.markCrossed(p.predicateId(), p.generation(), params, now).thenCompose(won -> {
              if (!won) {
                return CompletableFuture.<Void>completedFuture(null); // another evaluator recorded it
              }
              Metrics.increment(METRIC_CROSSINGS);
              log.info("Device predicate {} ({}) crossed: {} of {} sessions match; emitting signal {}",
                  p.predicateId(), p.name(), count.matching(), count.total(),
                  DevicePredicate.signalId(p.predicateId(), p.generation() + 1));
              return publish(p, p.generation() + 1, params, now);
            });
          } else if (!holds && p.satisfied()) {
            transition = store.rearm(p.predicateId(), p.generation()).thenAccept(rearmed -> {
              if (rearmed) {
                log.info("Device predicate {} ({}) no longer holds ({} of {} sessions match, at least {} needed):"
                    + " re-armed", p.predicateId(), p.name(), count.matching(), count.total(),
                    p.predicate().minDevices());
              }
            });
          } else {
            transition = CompletableFuture.completedFuture(null);
          }
          return transition.thenCompose(x -> store.observed(p.predicateId(), count.total(), count.matching(), now))
              .thenApply(x -> (Void) null);
        });
  }

  private CompletionStage<Void> publish(DevicePredicate.Stored p, int generation, String paramsJson, Instant time) {
    Map<String, JsonNode> params = new LinkedHashMap<>();
    try {
      Json.MAPPER.readTree(paramsJson).fields().forEachRemaining(f -> params.put(f.getKey(), f.getValue()));
    } catch (Exception e) {
      return CompletableFuture.failedFuture(e);
    }
    String signalId = DevicePredicate.signalId(p.predicateId(), generation);
    return signals.publish(new Signal(signalId, p.signal(), Map.copyOf(params), time, SOURCE))
        .thenCompose(published -> store.clearPending(p.predicateId(), generation))
        .thenApply(x -> null);
  }

  private static String params(DevicePredicate.Stored p, int generation, PopulationCount count, Instant now) {
    ObjectNode o = Json.MAPPER.createObjectNode();
    o.put("predicateId", p.predicateId());
    o.put("predicate", p.name());
    o.put("generation", generation);
    o.put("total", count.total());
    o.put("matching", count.matching());
    o.put("fraction", count.total() == 0 ? BigDecimal.ZERO
        : BigDecimal.valueOf(count.matching()).divide(BigDecimal.valueOf(count.total()), MathContext.DECIMAL64));
    o.put("quantifier", p.predicate().quantifier());
    if (p.predicate().threshold() != null) {
      o.put("threshold", p.predicate().threshold());
    }
    o.put("crossedAt", now.toString());
    return o.toString();
  }

  // --- the evaluator actor ---------------------------------------------------------------------

  /** Local messages of the evaluator singleton; it never receives any from other nodes. */
  private enum Tick { TICK, DONE }

  /**
   * Evaluates, waits {@code interval} after each pass finishes (passes never overlap: a slow
   * database stretches the period instead of piling up queries), and repeats.
   */
  private static Behavior<Tick> evaluator(DevicePredicates predicates, Duration interval) {
    return Behaviors.withTimers(timers -> Behaviors.setup(ctx -> {
      ctx.getSelf().tell(Tick.TICK);
      return Behaviors.receive(Tick.class)
          .onMessageEquals(Tick.TICK, () -> {
            ctx.pipeToSelf(predicates.evaluateAll(), (ok, err) -> {
              if (err != null) {
                Metrics.increment(METRIC_EVALUATIONS, Map.of("result", "failed"));
                log.warn("Device predicate evaluation pass failed: {}", err.toString());
              }
              return Tick.DONE;
            });
            return Behaviors.same();
          })
          .onMessageEquals(Tick.DONE, () -> {
            timers.startSingleTimer(Tick.TICK, interval);
            return Behaviors.same();
          })
          .build();
    }));
  }
}
