package io.fleetplane.jobs.workflow.schedule;

import com.typesafe.config.Config;
import java.time.Duration;

/**
 * {@code fleetplane.workflows.schedules} (job-actors reference.conf).
 *
 * @param runScheduler whether this node may host the scheduler singleton
 * @param tickInterval how often the scheduler looks for due fire times
 * @param misfireThreshold how late a fire time may be looked at and still count as on time
 * @param defaultMaxCatchUp a schedule's maxCatchUp when it names none
 * @param maxCatchUpLimit the largest maxCatchUp a schedule may ask for
 * @param parallelism instance starts in flight at once
 * @param refreshInterval how often the scheduler re-reads every enabled schedule
 * @param retryBackoff wait before retrying a start that failed for a passing reason
 * @param maxPerWorkflow schedules one workflow may have
 * @param poolSize JDBC connections of the schedule store
 */
public record ScheduleSettings(boolean runScheduler, Duration tickInterval, Duration misfireThreshold,
    int defaultMaxCatchUp, int maxCatchUpLimit, int parallelism, Duration refreshInterval, Duration retryBackoff,
    int maxPerWorkflow, int poolSize) {

  public static ScheduleSettings fromConfig(Config config) {
    Config c = config.getConfig("fleetplane.workflows.schedules");
    return new ScheduleSettings(c.getBoolean("run-scheduler"), c.getDuration("tick-interval"),
        c.getDuration("misfire-threshold"), c.getInt("default-max-catch-up"), c.getInt("max-catch-up-limit"),
        c.getInt("parallelism"), c.getDuration("refresh-interval"), c.getDuration("retry-backoff"),
        c.getInt("max-per-workflow"), c.getInt("pool-size"));
  }
}
