package io.fleetplane.jobs.workflow.schedule.domain;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * What a schedule does with fire times it missed (the scheduler was down, or woke up late).
 *
 * <p>A fire time is <em>missed</em> when the scheduler looks at it more than the misfire threshold
 * after it was due; fire times found in time are always fired, whatever the policy. Only the
 * looking is judged: a fire time handed to the engine on time and then slowed by load is not a
 * miss.
 */
public enum CatchUp {
  /** Missed fire times are dropped; the schedule continues with the next one. */
  SKIP,
  /** Of the missed fire times only the latest runs (a "refresh" job needs one run, not twenty). */
  LATEST_ONCE,
  /** Every missed fire time runs, oldest first, at most the schedule's {@code maxCatchUp} latest. */
  ALL_MISSED;

  /** The API name: {@code skip}, {@code latest-once}, {@code all-missed}. */
  public String wireName() {
    return name().toLowerCase(Locale.ROOT).replace('_', '-');
  }

  public static CatchUp fromWire(String name) {
    for (CatchUp c : values()) {
      if (c.wireName().equals(name)) {
        return c;
      }
    }
    throw new IllegalArgumentException("catchUp is one of skip, latest-once, all-missed");
  }

  /**
   * The fire times to start now.
   *
   * @param watermark every fire time up to and including it has been handled (fired or skipped)
   * @param now the scheduler's clock
   * @param misfireThreshold how late a fire time may be looked at and still count as on time
   * @param maxCatchUp the most missed fire times {@link #ALL_MISSED} runs
   * @param maxOnTime bound on on-time fire times listed (a sub-second cron cannot flood a tick)
   */
  public Plan plan(Timing timing, Instant watermark, Instant now, Duration misfireThreshold, int maxCatchUp,
      int maxOnTime) {
    Instant missedUpTo = now.minus(misfireThreshold);
    List<Instant> fire = new ArrayList<>();
    boolean skipped = false;
    Instant skippedUpTo = watermark;
    if (missedUpTo.isAfter(watermark)) {
      int keep = switch (this) {
        case SKIP -> 0;
        case LATEST_ONCE -> 1;
        case ALL_MISSED -> maxCatchUp;
      };
      Timing.Window missed = timing.latestBetween(watermark, missedUpTo, keep);
      fire.addAll(missed.times());
      skipped = missed.more();
      if (skipped) {
        // Everything before the first kept time (or up to the threshold, when none is kept) is settled.
        skippedUpTo = missed.times().isEmpty() ? missedUpTo : missed.times().get(0).minusNanos(1);
      }
    }
    Instant onTimeFrom = missedUpTo.isAfter(watermark) ? missedUpTo : watermark;
    Timing.Window onTime = timing.latestBetween(onTimeFrom, now, maxOnTime);
    fire.addAll(onTime.times());
    return new Plan(List.copyOf(fire), skipped, skippedUpTo);
  }

  /**
   * @param fire fire times to start, ascending
   * @param skippedSome missed fire times were dropped by the policy
   * @param settledUpTo the watermark may move here before anything fires (the dropped ones are settled)
   */
  public record Plan(List<Instant> fire, boolean skippedSome, Instant settledUpTo) {}
}
