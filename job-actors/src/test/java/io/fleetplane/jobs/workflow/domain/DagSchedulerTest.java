package io.fleetplane.jobs.workflow.domain;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.fleetplane.jobs.workflow.domain.DagScheduler.Condition;
import io.fleetplane.jobs.workflow.domain.DagScheduler.Decision;
import io.fleetplane.jobs.workflow.domain.WorkflowDefinition.StepDefinition;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class DagSchedulerTest {

  private static StepDefinition step(String id, String... deps) {
    return new StepDefinition(id, StepType.NOOP, List.of(deps), Optional.empty(), Map.of(),
        WorkflowDefinition.RetryPolicy.NONE, Optional.empty(), Optional.empty(), 1);
  }

  private static StepDefinition conditional(String id, String condition, String... deps) {
    return new StepDefinition(id, StepType.NOOP, List.of(deps), Optional.of(condition), Map.of(),
        WorkflowDefinition.RetryPolicy.NONE, Optional.empty(), Optional.empty(), 1);
  }

  private static final List<StepDefinition> DIAMOND = List.of(step("a"), step("b", "a"), step("c", "a"),
      step("d", "b", "c"));

  @Test
  void diamondFansOutThenInOnlyWhenBothBranchesAreDone() {
    Map<String, StepStatus> s = new HashMap<>();
    assertEquals(List.of(new Decision.Start("a")), DagScheduler.next(DIAMOND, s, x -> new Condition.Holds()));
    s.put("a", StepStatus.SUCCEEDED);
    assertEquals(List.of(new Decision.Start("b"), new Decision.Start("c")),
        DagScheduler.next(DIAMOND, s, x -> new Condition.Holds()));
    s.put("b", StepStatus.SUCCEEDED);
    s.put("c", StepStatus.RUNNING);
    assertEquals(List.of(), DagScheduler.next(DIAMOND, s, x -> new Condition.Holds()));
    assertEquals(Optional.empty(), DagScheduler.finished(DIAMOND, s));
    s.put("c", StepStatus.SUCCEEDED);
    assertEquals(List.of(new Decision.Start("d")), DagScheduler.next(DIAMOND, s, x -> new Condition.Holds()));
    s.put("d", StepStatus.SUCCEEDED);
    assertEquals(Optional.of(true), DagScheduler.finished(DIAMOND, s));
  }

  @Test
  void falseConditionSkipsAndTheSkipPropagates() {
    List<StepDefinition> dag = List.of(step("a"), conditional("b", "false", "a"), step("c", "b"), step("d", "a"));
    Map<String, StepStatus> s = new HashMap<>(Map.of("a", StepStatus.SUCCEEDED));
    List<Decision> next = DagScheduler.next(dag, s, x -> new Condition.DoesNotHold());
    assertEquals(new Decision.Skip("b", "condition 'false' is false"), next.get(0));
    assertEquals(new Decision.Start("d"), next.get(1));
    s.put("b", StepStatus.SKIPPED);
    assertEquals(List.of(new Decision.Skip("c", "upstream step b was skipped"), new Decision.Start("d")),
        DagScheduler.next(dag, s, x -> new Condition.Holds()));
    s.put("c", StepStatus.SKIPPED);
    s.put("d", StepStatus.SUCCEEDED);
    assertEquals(Optional.of(true), DagScheduler.finished(dag, s), "skipped counts as done");
  }

  @Test
  void aFailedStepBlocksItsDownstreamAndFinishesTheDagAsFailed() {
    Map<String, StepStatus> s = new HashMap<>(Map.of("a", StepStatus.SUCCEEDED, "b", StepStatus.FAILED,
        "c", StepStatus.SUCCEEDED));
    assertEquals(List.of(), DagScheduler.next(DIAMOND, s, x -> new Condition.Holds()));
    assertEquals(Optional.of(false), DagScheduler.finished(DIAMOND, s));
    s.put("c", StepStatus.RETRYING);
    assertEquals(Optional.empty(), DagScheduler.finished(DIAMOND, s), "a retrying step may still succeed");
  }

  @Test
  void aConditionThatCannotBeEvaluatedFailsTheStep() {
    List<StepDefinition> dag = List.of(conditional("a", "params.x > 1"));
    assertEquals(List.of(new Decision.Fail("a", "no such key: x")),
        DagScheduler.next(dag, Map.of(), x -> new Condition.Error("no such key: x")));
  }
}
