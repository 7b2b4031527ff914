package io.fleetplane.jobs.workflow.schedule.domain;

import com.cronutils.model.Cron;
import com.cronutils.model.CronType;
import com.cronutils.model.definition.CronDefinition;
import com.cronutils.model.definition.CronDefinitionBuilder;
import com.cronutils.model.time.ExecutionTime;
import com.cronutils.parser.CronParser;
import java.time.DateTimeException;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * When a schedule fires: a cron expression or a named period, evaluated in a time zone.
 *
 * <p>Accepted expressions: five-field Unix cron ({@code min hour dom month dow}), six-field cron
 * with seconds first ({@code sec min hour dom month dow}, Spring 5.3 syntax: the only way to fire
 * more than once a minute) and the named periods {@code hourly}, {@code daily}, {@code weekly},
 * {@code monthly} (also with a leading {@code @}), which are fixed cron expressions.
 *
 * <p>Time zones and DST: fire times are computed on the zone's local wall clock by cron-utils and
 * handed out as {@link Instant}s, so every scheduled time is one unambiguous instant (the engine's
 * de-duplication key). A local time that does not exist (spring forward) and a local time that
 * exists twice (fall back) are handled as {@code ScheduleSpecTest} pins down: see there.
 *
 * <p>Immutable; parsing happens once, in {@link #parse}.
 */
public final class Timing {

  /** The expression or time zone is invalid (HTTP 400 with {@link #code()}). */
  public static final class InvalidTimingException extends RuntimeException {
    private final String code;

    public InvalidTimingException(String code, String message) {
      super(message, null, false, false);
      this.code = code;
    }

    public String code() {
      return code;
    }
  }

  public static final String INVALID_CRON = "schedule.invalid-cron";
  public static final String INVALID_TIME_ZONE = "schedule.invalid-time-zone";

  private static final CronParser UNIX = new CronParser(CronDefinitionBuilder.instanceDefinitionFor(CronType.UNIX));
  private static final CronParser WITH_SECONDS = new CronParser(spring53());

  /** Named periods: at the start of each hour/day/week (Monday)/month, in the schedule's zone. */
  static final Map<String, String> PERIODS = Map.of(
      "hourly", "0 * * * *",
      "daily", "0 0 * * *",
      "weekly", "0 0 * * 1",
      "monthly", "0 0 1 * *");

  private final String expression;
  private final ZoneId zone;
  private final ExecutionTime executionTime;

  private Timing(String expression, ZoneId zone, ExecutionTime executionTime) {
    this.expression = expression;
    this.zone = zone;
    this.executionTime = executionTime;
  }

  /**
   * @param expression cron (5 or 6 fields) or a named period
   * @param timeZone an IANA zone id ({@code Europe/Berlin}) or {@code UTC}
   * @throws InvalidTimingException with {@link #INVALID_CRON} or {@link #INVALID_TIME_ZONE}
   */
  public static Timing parse(String expression, String timeZone) {
    ZoneId zone;
    try {
      zone = ZoneId.of(timeZone == null || timeZone.isBlank() ? "UTC" : timeZone.trim());
    } catch (DateTimeException e) {
      throw new InvalidTimingException(INVALID_TIME_ZONE, "timeZone '" + timeZone
          + "' is not a time zone id (for example UTC or Europe/Berlin)");
    }
    if (expression == null || expression.isBlank() || expression.length() > 200) {
      throw new InvalidTimingException(INVALID_CRON, "the expression is a cron expression of 5 or 6 fields or one"
          + " of " + PERIODS.keySet() + ", at most 200 characters");
    }
    String trimmed = expression.trim();
    String named = trimmed.startsWith("@") ? trimmed.substring(1) : trimmed;
    String cronText = PERIODS.getOrDefault(named.toLowerCase(Locale.ROOT), trimmed);
    int fields = cronText.split("\\s+").length;
    Cron cron;
    try {
      if (fields == 5) {
        cron = UNIX.parse(cronText);
      } else if (fields == 6) {
        cron = WITH_SECONDS.parse(cronText);
      } else {
        throw new IllegalArgumentException("it has " + fields + " fields; cron has 5 (min hour dom month dow) or"
            + " 6 (sec min hour dom month dow), or use one of " + PERIODS.keySet());
      }
      cron.validate();
    } catch (IllegalArgumentException e) {
      throw new InvalidTimingException(INVALID_CRON, "'" + trimmed + "' is not a valid schedule: " + e.getMessage());
    }
    return new Timing(trimmed, zone, ExecutionTime.forCron(cron));
  }

  public String expression() {
    return expression;
  }

  public ZoneId zone() {
    return zone;
  }

  /** The first fire time strictly after {@code after}, if the expression ever fires again. */
  public Optional<Instant> next(Instant after) {
    return executionTime.nextExecution(ZonedDateTime.ofInstant(after, zone)).map(ZonedDateTime::toInstant)
        .filter(t -> t.isAfter(after));
  }

  /** Up to {@code limit} fire times strictly after {@code after}, ascending. */
  public List<Instant> nextTimes(Instant after, int limit) {
    List<Instant> out = new ArrayList<>();
    Instant cursor = after;
    while (out.size() < limit) {
      Optional<Instant> n = next(cursor);
      if (n.isEmpty()) {
        break;
      }
      out.add(n.get());
      cursor = n.get();
    }
    return out;
  }

  /**
   * The latest {@code keep} fire times in {@code (after, upTo]}, ascending, and whether earlier
   * ones in that window were left out. Steps backwards from {@code upTo}, so the cost is bounded by
   * {@code keep} however long the window is (a per-second schedule after a day of downtime).
   */
  public Window latestBetween(Instant after, Instant upTo, int keep) {
    java.util.ArrayDeque<Instant> out = new java.util.ArrayDeque<>();
    Instant cursor = upTo.plusNanos(1);
    while (true) {
      Instant from = cursor;
      Optional<Instant> p = executionTime.lastExecution(ZonedDateTime.ofInstant(from, zone))
          .map(ZonedDateTime::toInstant).filter(t -> t.isBefore(from));
      if (p.isEmpty() || !p.get().isAfter(after)) {
        return new Window(List.copyOf(out), false);
      }
      if (out.size() == keep) {
        return new Window(List.copyOf(out), true);
      }
      out.addFirst(p.get());
      cursor = p.get();
    }
  }

  /**
   * Fire times of a window.
   *
   * @param times ascending
   * @param more earlier fire times in the window were left out
   */
  public record Window(List<Instant> times, boolean more) {}

  /** Spring 5.3's six-field cron (seconds first), built here because cron-utils 9.2 names it SPRING53. */
  private static CronDefinition spring53() {
    return CronDefinitionBuilder.instanceDefinitionFor(CronType.SPRING53);
  }

  @Override
  public String toString() {
    return expression + " (" + zone + ")";
  }
}
