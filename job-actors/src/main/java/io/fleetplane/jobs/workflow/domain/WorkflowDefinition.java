package io.fleetplane.jobs.workflow.domain;

import com.fasterxml.jackson.databind.JsonNode;
import io.fleetplane.config.CborSerializable;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A parsed, validated workflow: the same records whether it was written in YAML or JSON. An
 * instance carries the DAG it runs (its own copy, in its first journal event), so a later version
 * of the definition never changes a running instance.
 *
 * @param id workflow id (stable across versions)
 * @param description what it does, for people
 * @param owner who answers for it
 * @param params default parameter values; a start request may override them
 * @param steps the top-level DAG
 * @param timeout how long an instance may run in total before it fails as timed out
 * @param maxRunningInstances at most this many instances run at once; more wait their turn
 *     (parallel only: the other strategies run one at a time)
 * @param runStrategy how instances share the right to run; null (older records) reads as parallel
 */
public record WorkflowDefinition(
    String id,
    String description,
    String owner,
    Map<String, JsonNode> params,
    List<StepDefinition> steps,
    Optional<Duration> timeout,
    Optional<Integer> maxRunningInstances,
    RunStrategy runStrategy) implements CborSerializable {

  public WorkflowDefinition {
    runStrategy = runStrategy == null ? RunStrategy.PARALLEL : runStrategy;
  }

  /** How many instances may run at once; empty = no limit (and no {@code WorkflowRunGate}). */
  public Optional<Integer> runLimit() {
    return runStrategy == RunStrategy.PARALLEL ? maxRunningInstances : Optional.of(1);
  }

  /** Every step, including those inside foreach bodies (the size limit counts them all). */
  public int totalSteps() {
    return countSteps(steps);
  }

  private static int countSteps(List<StepDefinition> steps) {
    int n = 0;
    for (StepDefinition s : steps) {
      n++;
      if (s.foreach().isPresent()) {
        n += countSteps(s.foreach().get().steps());
      }
    }
    return n;
  }

  /**
   * One node of the DAG.
   *
   * @param id unique among its siblings; expressions refer to its outputs as {@code steps.<id>}
   * @param type one of {@link StepType}
   * @param dependsOn upstream step ids (siblings)
   * @param condition CEL; the step runs only when it evaluates to true, otherwise it is skipped
   * @param params inputs; strings holding {@code ${...}} are CEL, everything else is literal
   * @param retry how failures are retried
   * @param timeout how long one attempt may run before it is timed out
   * @param foreach the loop of a {@code foreach} step
   * @param line the line of the step in the source (1-based), for error messages
   * @param gate the signal the step waits for once it is ready; empty in definitions stored
   *     before gates existed (Jackson reads the absent field as null)
   */
  public record StepDefinition(
      String id,
      StepType type,
      List<String> dependsOn,
      Optional<String> condition,
      Map<String, JsonNode> params,
      RetryPolicy retry,
      Optional<Duration> timeout,
      Optional<ForeachSpec> foreach,
      int line,
      Optional<Gate> gate) implements CborSerializable {

    public StepDefinition {
      gate = gate == null ? Optional.empty() : gate;
    }

    /** A step without a gate. */
    public StepDefinition(String id, StepType type, List<String> dependsOn, Optional<String> condition,
        Map<String, JsonNode> params, RetryPolicy retry, Optional<Duration> timeout, Optional<ForeachSpec> foreach,
        int line) {
      this(id, type, dependsOn, condition, params, retry, timeout, foreach, line, Optional.empty());
    }
  }

  /**
   * A step gate: the ready step waits until a signal named {@code signal} exists for which
   * {@code condition} holds. Signals count from the instance's run time minus {@code lookback}
   * (so signals that arrived before the step became ready count); one signal opens the gate.
   *
   * @param signal the signal name
   * @param condition CEL over the step's usual variables plus {@code signal} (signalId, name,
   *     source, time, params); empty = any signal of the name
   * @param lookback how far before the run time signals still count (zero = since the run started)
   */
  public record Gate(String signal, Optional<String> condition, Duration lookback) implements CborSerializable {

    public Gate {
      condition = condition == null ? Optional.empty() : condition;
      lookback = lookback == null ? Duration.ZERO : lookback;
    }
  }

  /**
   * @param items CEL evaluating to a list; one child instance runs per element
   * @param as the name the element has in the body's expressions
   * @param concurrency how many iterations run at once
   * @param steps the body: a DAG run once per element
   */
  public record ForeachSpec(String items, String as, int concurrency, List<StepDefinition> steps)
      implements CborSerializable {}

  /**
   * @param maxAttempts attempts in total (1 = no retry)
   * @param backoff delay before the first retry; doubles per attempt
   * @param maxBackoff the cap on that delay
   * @param retryOn which failure kinds are retried
   */
  public record RetryPolicy(int maxAttempts, Duration backoff, Duration maxBackoff, List<FailureKind> retryOn)
      implements CborSerializable {

    public static final RetryPolicy NONE = new RetryPolicy(1, Duration.ofSeconds(1), Duration.ofMinutes(1),
        List.of(FailureKind.PLATFORM, FailureKind.USER));

    /** The delay before attempt {@code nextAttempt} (2 = the first retry). */
    public Duration delayBefore(int nextAttempt) {
      long factor = 1L << Math.min(30, Math.max(0, nextAttempt - 2));
      Duration d = backoff.multipliedBy(factor);
      return d.compareTo(maxBackoff) > 0 ? maxBackoff : d;
    }

    public boolean retries(FailureKind kind, int attempt) {
      return attempt < maxAttempts && retryOn.contains(kind);
    }
  }

  /** Platform errors (network, 5xx, timeouts) are usually transient; user errors (4xx, bad input) not. */
  public enum FailureKind { PLATFORM, USER }

  public Optional<StepDefinition> step(String stepId) {
    return steps.stream().filter(s -> s.id().equals(stepId)).findFirst();
  }
}
