package io.fleetplane.jobs.workflow;

import com.typesafe.config.Config;
import io.fleetplane.jobs.workflow.domain.Expressions;
import java.time.Duration;

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
    Duration distributionPollInterval) {

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
        c.getDuration("distribution-step.poll-interval"));
  }
}
