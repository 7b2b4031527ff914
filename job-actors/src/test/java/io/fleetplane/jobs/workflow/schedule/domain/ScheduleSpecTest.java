package io.fleetplane.jobs.workflow.schedule.domain;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Cron parsing, time zones, DST and the catch-up policies, without actors or a database. */
class ScheduleSpecTest {

  private static Instant t(String iso) {
    return Instant.parse(iso);
  }

  @Test
  void unixCronInAZoneFiresOnThatZonesWallClock() {
    Timing daily = Timing.parse("30 6 * * *", "Europe/Berlin");
    // 06:30 in Berlin is 05:30 UTC in winter (CET, +1) and 04:30 UTC in summer (CEST, +2).
    assertEquals(List.of(t("2026-01-10T05:30:00Z"), t("2026-01-11T05:30:00Z")),
        daily.nextTimes(t("2026-01-10T00:00:00Z"), 2));
    assertEquals(List.of(t("2026-07-10T04:30:00Z")), daily.nextTimes(t("2026-07-10T00:00:00Z"), 1));
  }

  @Test
  void sixFieldsMeanSecondsFirst() {
    Timing everySecond = Timing.parse("* * * * * *", "UTC");
    assertEquals(List.of(t("2026-01-01T00:00:01Z"), t("2026-01-01T00:00:02Z"), t("2026-01-01T00:00:03Z")),
        everySecond.nextTimes(t("2026-01-01T00:00:00Z"), 3));
    Timing at15 = Timing.parse("15 * * * * *", "UTC");
    assertEquals(t("2026-01-01T00:01:15Z"), at15.next(t("2026-01-01T00:00:15Z")).orElseThrow());
  }

  @Test
  void namedPeriodsAreFixedCronExpressions() {
    Instant from = t("2026-03-04T10:15:00Z"); // a Wednesday
    assertEquals(t("2026-03-04T11:00:00Z"), Timing.parse("hourly", "UTC").next(from).orElseThrow());
    assertEquals(t("2026-03-05T00:00:00Z"), Timing.parse("@daily", "UTC").next(from).orElseThrow());
    assertEquals(t("2026-03-09T00:00:00Z"), Timing.parse("weekly", "UTC").next(from).orElseThrow(), "Monday");
    assertEquals(t("2026-04-01T00:00:00Z"), Timing.parse("monthly", "UTC").next(from).orElseThrow());
    // A named period follows the zone too: midnight in New York.
    assertEquals(t("2026-03-05T05:00:00Z"), Timing.parse("daily", "America/New_York").next(from).orElseThrow());
  }

  @Test
  void badExpressionsAndZonesHaveTheirOwnCodes() {
    assertEquals(Timing.INVALID_CRON, assertThrows(Timing.InvalidTimingException.class,
        () -> Timing.parse("61 * * * *", "UTC")).code());
    assertEquals(Timing.INVALID_CRON, assertThrows(Timing.InvalidTimingException.class,
        () -> Timing.parse("* * *", "UTC")).code());
    assertEquals(Timing.INVALID_CRON, assertThrows(Timing.InvalidTimingException.class,
        () -> Timing.parse("fortnightly", "UTC")).code());
    assertEquals(Timing.INVALID_TIME_ZONE, assertThrows(Timing.InvalidTimingException.class,
        () -> Timing.parse("hourly", "Mars/Olympus")).code());
  }

  @Test
  void springForwardSkipsALocalTimeThatDoesNotExistAndNeverDoubles() {
    // Europe/Berlin 2026-03-29: 02:00 CET jumps to 03:00 CEST, so 02:30 does not exist that day.
    // cron-utils (and so Fleetplane) does not run a daily 02:30 schedule on that day, unlike
    // Vixie cron, which runs it at 03:00: a known limitation, documented in the README.
    Timing at0230 = Timing.parse("30 2 * * *", "Europe/Berlin");
    List<Instant> times = at0230.nextTimes(t("2026-03-27T12:00:00Z"), 3);
    assertEquals(List.of(t("2026-03-28T01:30:00Z"), t("2026-03-30T00:30:00Z"), t("2026-03-31T00:30:00Z")), times);
    // Every time is distinct and ascending, whatever happens on the 29th.
    for (int i = 1; i < times.size(); i++) {
      assertTrue(times.get(i).isAfter(times.get(i - 1)), times.toString());
    }
    // An hourly schedule over the jump: 23 runs that day, one an hour, no gap in UTC.
    List<Instant> hourly = Timing.parse("hourly", "Europe/Berlin").nextTimes(t("2026-03-28T23:00:00Z"), 23);
    for (int i = 1; i < hourly.size(); i++) {
      assertEquals(Duration.ofHours(1), Duration.between(hourly.get(i - 1), hourly.get(i)), hourly.toString());
    }
  }

  @Test
  void fallBackRunsADailyTimeOnce() {
    // Europe/Berlin 2026-10-25: 03:00 CEST falls back to 02:00 CET, so 02:30 happens twice on the wall clock.
    Timing at0230 = Timing.parse("30 2 * * *", "Europe/Berlin");
    List<Instant> times = at0230.nextTimes(t("2026-10-24T12:00:00Z"), 2);
    assertEquals(t("2026-10-26T01:30:00Z"), times.get(1), "the day after runs at 02:30 CET");
    assertTrue(times.get(0).equals(t("2026-10-25T00:30:00Z")) || times.get(0).equals(t("2026-10-25T01:30:00Z")),
        "the 25th runs once, at one of its two 02:30s: " + times);
  }

  @Test
  void onTimeFireTimesAlwaysFire() {
    Timing everySecond = Timing.parse("* * * * * *", "UTC");
    Instant now = t("2026-01-01T00:00:10Z");
    CatchUp.Plan plan = CatchUp.SKIP.plan(everySecond, t("2026-01-01T00:00:08Z"), now, Duration.ofSeconds(5), 10, 100);
    assertEquals(List.of(t("2026-01-01T00:00:09Z"), t("2026-01-01T00:00:10Z")), plan.fire());
    assertFalse(plan.skippedSome());
  }

  @Test
  void skipDropsMissedTimesButKeepsTheOnTimeOnes() {
    Timing everySecond = Timing.parse("* * * * * *", "UTC");
    Instant now = t("2026-01-01T00:01:00Z");
    CatchUp.Plan plan = CatchUp.SKIP.plan(everySecond, t("2026-01-01T00:00:00Z"), now, Duration.ofSeconds(5), 10, 100);
    assertEquals(List.of(t("2026-01-01T00:00:56Z"), t("2026-01-01T00:00:57Z"), t("2026-01-01T00:00:58Z"),
        t("2026-01-01T00:00:59Z"), t("2026-01-01T00:01:00Z")), plan.fire());
    assertTrue(plan.skippedSome());
    assertEquals(t("2026-01-01T00:00:55Z"), plan.settledUpTo());
  }

  @Test
  void latestOnceRunsOnlyTheLatestMissedTime() {
    Timing hourly = Timing.parse("hourly", "UTC");
    Instant now = t("2026-01-01T05:20:00Z");
    CatchUp.Plan plan = CatchUp.LATEST_ONCE.plan(hourly, t("2026-01-01T00:00:00Z"), now, Duration.ofSeconds(5), 10,
        100);
    assertEquals(List.of(t("2026-01-01T05:00:00Z")), plan.fire());
    assertTrue(plan.skippedSome());
    assertEquals(t("2026-01-01T05:00:00Z").minusNanos(1), plan.settledUpTo());
  }

  @Test
  void allMissedRunsEveryMissedTimeUpToTheBound() {
    Timing hourly = Timing.parse("hourly", "UTC");
    Instant now = t("2026-01-01T05:20:00Z");
    CatchUp.Plan all = CatchUp.ALL_MISSED.plan(hourly, t("2026-01-01T00:00:00Z"), now, Duration.ofSeconds(5), 10, 100);
    assertEquals(List.of(t("2026-01-01T01:00:00Z"), t("2026-01-01T02:00:00Z"), t("2026-01-01T03:00:00Z"),
        t("2026-01-01T04:00:00Z"), t("2026-01-01T05:00:00Z")), all.fire());
    assertFalse(all.skippedSome());
    CatchUp.Plan bounded = CatchUp.ALL_MISSED.plan(hourly, t("2026-01-01T00:00:00Z"), now, Duration.ofSeconds(5), 2,
        100);
    assertEquals(List.of(t("2026-01-01T04:00:00Z"), t("2026-01-01T05:00:00Z")), bounded.fire(), "the latest two");
    assertTrue(bounded.skippedSome());
  }

  @Test
  void aLongOutageOfAPerSecondScheduleIsPlannedInBoundedWork() {
    Timing everySecond = Timing.parse("* * * * * *", "UTC");
    Instant now = t("2026-01-31T00:00:00Z");
    CatchUp.Plan plan = CatchUp.ALL_MISSED.plan(everySecond, t("2026-01-01T00:00:00Z"), now, Duration.ofSeconds(5),
        100, 100);
    assertEquals(105, plan.fire().size(), "100 missed + the 5 on-time seconds");
    assertEquals(t("2026-01-31T00:00:00Z"), plan.fire().get(104));
  }

  @Test
  void wireNamesRoundTrip() {
    for (CatchUp c : CatchUp.values()) {
      assertEquals(c, CatchUp.fromWire(c.wireName()));
    }
    assertThrows(IllegalArgumentException.class, () -> CatchUp.fromWire("sometimes"));
  }
}
