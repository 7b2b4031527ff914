package io.fleetplane.jobs.workflow;

import com.typesafe.config.Config;
import io.fleetplane.jobs.workflow.domain.Expressions;
import io.fleetplane.jobs.workflow.domain.StepType;
import java.time.Duration;
import java.util.EnumMap;
import java.util.Map;

/**
 * {@code fleetplane.workflows} (job-actors reference.conf).
 *
 * @param maxSteps steps per definition, foreach bodies included
 * @param maxForeachIterations elements a foreach may loop over
 * @param maxConcurrency the largest foreach concurrency a definition may ask for
 * @param expressionLimits CEL cost limits
 * @param storePoolSize JDBC connections of the definition store
 * @param httpTimeout default per-request timeout of http steps (a step's own timeout wins)
 * @param askTimeout how long callers wait for an instance to answer
 * @param snapshotEvery events between snapshots of an instance
 * @param distributionPollInterval how often a distribution step reads its job's summary
 * @param stepTypeLimits running steps per type on this node ({@link StepSlots}); absent: no limit
 * @param deviceCommandTimeout reply timeout of device-command steps without a timeoutMs param
 */
public record WorkflowSettings(
    int maxSteps,
    int maxForeachIterations,
    int maxConcurrency,
    Expressions.Limits expressionLimits,
    int storePoolSize,
    Duration httpTimeout,
    Duration askTimeout,
    int snapshotEvery,
    Duration distributionPollInterval,
    Map<StepType, Integer> stepTypeLimits,
    Duration deviceCommandTimeout) {

  public static WorkflowSettings fromConfig(Config config) {
    Config c = config.getConfig("fleetplane.workflows");
    int maxIterations = c.getInt("max-foreach-iterations");
    return new WorkflowSettings(
        c.getInt("max-steps"),
        maxIterations,
        c.getInt("max-foreach-concurrency"),
        new Expressions.Limits(c.getInt("expressions.max-length"), c.getInt("expressions.max-nesting"),
            c.getInt("expressions.max-comprehension-iterations"), maxIterations),
        c.getInt("definition-store.pool-size"),
        c.getDuration("http-step.timeout"),
        c.getDuration("ask-timeout"),
        c.getInt("snapshot-every"),
        c.getDuration("distribution-step.poll-interval"),
        stepTypeLimits(c.getConfig("step-type-limits")),
        c.getDuration("device-command-step.timeout"));
  }

  /** Unknown types, types that cannot be limited and limits below 1 stop the node at start. */
  static Map<StepType, Integer> stepTypeLimits(Config c) {
    Map<StepType, Integer> limits = new EnumMap<>(StepType.class);
    for (var entry : c.root().entrySet()) {
      String name = entry.getKey();
      StepType type = StepType.parse(name).orElseThrow(() -> new IllegalArgumentException(
          "fleetplane.workflows.step-type-limits." + name + ": no step type '" + name + "'; known: "
              + StepType.known()));
      if (!StepSlots.LIMITABLE.contains(type)) {
        throw new IllegalArgumentException("fleetplane.workflows.step-type-limits." + name + ": " + name
            + " steps cannot be limited (only " + StepSlots.LIMITABLE.stream().map(StepType::yamlName).sorted()
                .toList() + "); limit foreach with its concurrency and workflows with maxRunningInstances");
      }
      int limit = c.getInt("\"" + name + "\"");
      if (limit < 1) {
        throw new IllegalArgumentException("fleetplane.workflows.step-type-limits." + name + " must be at least 1,"
            + " was " + limit + " (leave the type out for no limit)");
      }
      limits.put(type, limit);
    }
    return Map.copyOf(limits);
  }
}
