package io.fleetplane.jobs.workflow.domain;

import io.fleetplane.jobs.workflow.domain.WorkflowDefinition.StepDefinition;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Which steps of a DAG move next, from their current statuses alone (no actors, no clock), so
 * the rules are tested in plain JUnit and replay to the same answer:
 * <ul>
 *   <li>a created step whose upstream steps all succeeded runs if its condition holds, and is
 *       skipped if it does not;
 *   <li>a created step with a skipped upstream step is skipped too (skips propagate, so the
 *       downstream of an unchosen branch does not run on half its inputs);
 *   <li>a created step with a failed, cancelled or timed-out upstream step never runs; it stays
 *       created, so restarting from the failed step can still run it;
 *   <li>the DAG is finished when nothing is running or retrying and nothing can start: succeeded
 *       when every step succeeded or was skipped, failed otherwise.
 * </ul>
 */
public final class DagScheduler {

  private DagScheduler() {}

  /** The verdict on a step's condition. */
  public sealed interface Condition {
    record Holds() implements Condition {}
    record DoesNotHold() implements Condition {}
    record Error(String message) implements Condition {}
  }

  /** A move: start, skip (with the reason) or fail (a condition that could not be evaluated). */
  public sealed interface Decision {
    String stepId();

    record Start(String stepId) implements Decision {}
    record Skip(String stepId, String reason) implements Decision {}
    record Fail(String stepId, String reason) implements Decision {}
  }

  /** The next moves, in definition order. */
  public static List<Decision> next(List<StepDefinition> steps, Map<String, StepStatus> status,
      java.util.function.Function<StepDefinition, Condition> condition) {
    List<Decision> out = new ArrayList<>();
    for (StepDefinition s : steps) {
      if (status.getOrDefault(s.id(), StepStatus.CREATED) != StepStatus.CREATED) {
        continue;
      }
      boolean ready = true;
      Optional<String> skippedUpstream = Optional.empty();
      for (String dep : s.dependsOn()) {
        StepStatus d = status.getOrDefault(dep, StepStatus.CREATED);
        if (!d.done()) {
          ready = false;
          break;
        }
        if (d == StepStatus.SKIPPED && skippedUpstream.isEmpty()) {
          skippedUpstream = Optional.of(dep);
        }
      }
      if (!ready) {
        continue;
      }
      if (skippedUpstream.isPresent()) {
        out.add(new Decision.Skip(s.id(), "upstream step " + skippedUpstream.get() + " was skipped"));
        continue;
      }
      if (s.condition().isEmpty()) {
        out.add(new Decision.Start(s.id()));
        continue;
      }
      Condition c = condition.apply(s);
      if (c instanceof Condition.Holds) {
        out.add(new Decision.Start(s.id()));
      } else if (c instanceof Condition.DoesNotHold) {
        out.add(new Decision.Skip(s.id(), "condition '" + s.condition().get() + "' is false"));
      } else {
        out.add(new Decision.Fail(s.id(), ((Condition.Error) c).message()));
      }
    }
    return out;
  }

  /** Empty while steps run or can still start; otherwise whether the DAG succeeded. */
  public static Optional<Boolean> finished(List<StepDefinition> steps, Map<String, StepStatus> status) {
    boolean allDone = true;
    for (StepDefinition s : steps) {
      StepStatus st = status.getOrDefault(s.id(), StepStatus.CREATED);
      if (st == StepStatus.RUNNING || st == StepStatus.RETRYING) {
        return Optional.empty();
      }
      if (!st.done()) {
        allDone = false;
      }
    }
    if (allDone) {
      return Optional.of(true);
    }
    // Something is created or failed: finished only when no created step can ever start.
    return next(steps, status, s -> new Condition.Holds()).isEmpty() ? Optional.of(false) : Optional.empty();
  }
}
