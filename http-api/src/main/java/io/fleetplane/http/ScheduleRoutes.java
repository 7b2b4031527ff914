package io.fleetplane.http;

import akka.http.javadsl.model.HttpResponse;
import akka.http.javadsl.model.StatusCode;
import akka.http.javadsl.model.StatusCodes;
import akka.http.javadsl.server.AllDirectives;
import akka.http.javadsl.server.PathMatchers;
import akka.http.javadsl.server.Route;
import com.fasterxml.jackson.databind.JsonNode;
import io.fleetplane.jobs.workflow.WorkflowEngine;
import io.fleetplane.jobs.workflow.WorkflowInstance;
import io.fleetplane.jobs.workflow.schedule.WorkflowSchedules;
import io.fleetplane.jobs.workflow.schedule.WorkflowSchedules.ScheduleRequest;
import io.fleetplane.jobs.workflow.schedule.domain.Timing;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletionStage;

/**
 * Schedules of a workflow and the lineage of its instances, under {@code /api/v1/workflows/{id}}:
 * <ul>
 *   <li>{@code POST .../schedules} ({@code {"cron": "0 6 * * *" | "period": "daily", "timeZone",
 *       "catchUp": "skip|latest-once|all-missed", "maxCatchUp", "params", "enabled"}}) 201;
 *   <li>{@code GET .../schedules}, {@code GET .../schedules/{sid}} (each with {@code nextFireTimes},
 *       {@code ?next=} how many, default 5), {@code DELETE .../schedules/{sid}};
 *   <li>{@code POST .../schedules/{sid}/actions/enable}, {@code .../actions/disable};
 *   <li>{@code GET .../schedules/{sid}/fires} (the instances it started, newest first);
 *   <li>{@code GET .../instances/{iid}/lineage} (what started the instance: schedule, signal, parent or API;
 *       the signals that opened its gated steps; the signals its steps published).
 * </ul>
 * Mounted next to {@link WorkflowRoutes} under the same workflows:read / workflows:write wrapper.
 */
final class ScheduleRoutes extends AllDirectives {

  /**
   * The body of POST .../schedules. Unknown fields, broken JSON, a wrong content type and an
   * oversized body are JsonBody's (request.*); scalars arrive as JSON nodes and are checked here,
   * because Jackson would quietly coerce {@code "cron": 5} to "5" and {@code "maxCatchUp": 1.5} to 1.
   */
  record ScheduleBody(JsonNode cron, JsonNode period, JsonNode timeZone, JsonNode catchUp, JsonNode maxCatchUp,
      JsonNode params, JsonNode enabled) {}

  private static final java.util.regex.Pattern SCHEDULE_ID =
      java.util.regex.Pattern.compile("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}");

  private final WorkflowEngine engine;
  private final WorkflowSchedules schedules;
  private final io.fleetplane.jobs.workflow.signal.WorkflowSignals signals;
  private final JsonBody body;

  ScheduleRoutes(WorkflowEngine engine, WorkflowSchedules schedules,
      io.fleetplane.jobs.workflow.signal.WorkflowSignals signals, JsonBody body) {
    this.engine = engine;
    this.schedules = schedules;
    this.signals = signals;
    this.body = body;
  }

  Route routes() {
    return pathPrefix("workflows", () -> pathPrefix(PathMatchers.segment(), rawWorkflowId -> concat(
        pathPrefix("schedules", () -> concat(
            pathEndOrSingleSlash(() -> concat(
                post(() -> body.as(ScheduleBody.class, request -> create(WorkflowRoutes.checkedId(rawWorkflowId),
                    request))),
                get(() -> parameterOptional("next", next -> {
                  String workflowId = WorkflowRoutes.checkedId(rawWorkflowId);
                  return respond(schedules.list(workflowId, WorkflowRoutes.intParam(next, 5, "next", 0, 100))
                      .thenApply(l -> Map.of("workflowId", workflowId, "schedules", l)), StatusCodes.OK);
                })))),
            pathPrefix(PathMatchers.segment(), scheduleId -> schedule(WorkflowRoutes.checkedId(rawWorkflowId),
                checkedScheduleId(scheduleId))))),
        path(PathMatchers.segment("instances").slash(PathMatchers.segment()).slash("lineage"), instanceId ->
            get(() -> lineage(WorkflowRoutes.checkedId(rawWorkflowId), WorkflowRoutes.checkedInstanceId(instanceId)))))));
  }

  /** Schedule ids are the UUIDs POST .../schedules returns; anything else names nothing (and never reaches SQL). */
  private static String checkedScheduleId(String raw) {
    if (!SCHEDULE_ID.matcher(raw).matches()) {
      throw new Problem.ProblemException(new Problem("urn:fleetplane:problem:" + WorkflowSchedules.ID_INVALID,
          "Bad Request", 400, WorkflowSchedules.ID_INVALID,
          "Schedule ids are the lower-case UUIDs returned by POST .../schedules.", "scheduleId"));
    }
    return raw;
  }

  private Route schedule(String workflowId, String scheduleId) {
    return concat(
        pathEndOrSingleSlash(() -> concat(
            get(() -> parameterOptional("next", next -> respond(schedules.get(workflowId, scheduleId,
                WorkflowRoutes.intParam(next, 5, "next", 0, 100)), StatusCodes.OK))),
            delete(() -> onComplete(WorkflowRoutes.unwrap(schedules.delete(workflowId, scheduleId)), r -> r.isSuccess()
                ? complete(HttpResponse.create().withStatus(StatusCodes.NO_CONTENT))
                : failure(r.failed().get()))))),
        path(PathMatchers.segment("actions").slash("enable"), () -> post(() ->
            respond(schedules.setEnabled(workflowId, scheduleId, true), StatusCodes.OK))),
        path(PathMatchers.segment("actions").slash("disable"), () -> post(() ->
            respond(schedules.setEnabled(workflowId, scheduleId, false), StatusCodes.OK))),
        path("fires", () -> get(() -> parameterOptional("limit", limit -> {
          int n = WorkflowRoutes.intParam(limit, 100, "limit", 1, 1000);
          return respond(schedules.fires(workflowId, scheduleId, n).thenApply(f -> Map.of("scheduleId", scheduleId,
              "fires", f)), StatusCodes.OK);
        }))));
  }

  private Route create(String workflowId, ScheduleBody request) {
    JsonNode cron = request.cron();
    JsonNode period = request.period();
    if ((cron == null) == (period == null)) {
      return complete(WorkflowRoutes.problem(StatusCodes.BAD_REQUEST, WorkflowSchedules.INVALID,
          "give exactly one of cron (5 or 6 fields) and period (hourly, daily, weekly, monthly)", "cron"));
    }
    JsonNode expression = cron == null ? period : cron;
    if (!expression.isTextual()) {
      return complete(WorkflowRoutes.problem(StatusCodes.BAD_REQUEST, Timing.INVALID_CRON, "cron/period is a string",
          cron == null ? "period" : "cron"));
    }
    if (period != null && !Set.of("hourly", "daily", "weekly", "monthly").contains(period.textValue())) {
      return complete(WorkflowRoutes.problem(StatusCodes.BAD_REQUEST, Timing.INVALID_CRON,
          "period is one of hourly, daily, weekly, monthly", "period"));
    }
    Optional<String> error = checkTypes(request);
    if (error.isPresent()) {
      return complete(WorkflowRoutes.problem(StatusCodes.BAD_REQUEST, WorkflowSchedules.INVALID, error.get(),
          error.get().substring(0, error.get().indexOf(' '))));
    }
    Map<String, JsonNode> params = new LinkedHashMap<>();
    if (request.params() != null) {
      request.params().fields().forEachRemaining(f -> params.put(f.getKey(), f.getValue()));
    }
    ScheduleRequest schedule = new ScheduleRequest(expression.textValue(), text(request.timeZone()),
        text(request.catchUp()), request.maxCatchUp() == null ? Optional.empty()
            : Optional.of(request.maxCatchUp().intValue()), params,
        request.enabled() == null || request.enabled().booleanValue());
    return respond(schedules.create(workflowId, schedule), StatusCodes.CREATED);
  }

  private static Optional<String> checkTypes(ScheduleBody request) {
    if (request.timeZone() != null && !request.timeZone().isTextual()) {
      return Optional.of("timeZone is a string (an IANA zone id such as Europe/Berlin)");
    }
    if (request.catchUp() != null && !request.catchUp().isTextual()) {
      return Optional.of("catchUp is one of skip, latest-once, all-missed");
    }
    if (request.maxCatchUp() != null && !(request.maxCatchUp().isIntegralNumber()
        && request.maxCatchUp().canConvertToInt())) {
      return Optional.of("maxCatchUp is an integer");
    }
    if (request.params() != null && !request.params().isObject()) {
      return Optional.of("params is a JSON object of name -> value");
    }
    if (request.enabled() != null && !request.enabled().isBoolean()) {
      return Optional.of("enabled is true or false");
    }
    return Optional.empty();
  }

  private static Optional<String> text(JsonNode value) {
    return value == null || value.isNull() ? Optional.empty() : Optional.of(value.textValue());
  }

  private Route lineage(String workflowId, String instanceId) {
    return onComplete(WorkflowRoutes.unwrap(engine.get(instanceId)), found -> {
      if (found.isFailure()) {
        return failure(found.failed().get());
      }
      if (!(found.get() instanceof WorkflowInstance.InstanceFound f) || !f.instance().workflowId().equals(workflowId)) {
        return complete(WorkflowRoutes.problem(StatusCodes.NOT_FOUND, WorkflowEngine.INSTANCE_NOT_FOUND,
            "No instance " + instanceId + " of workflow " + workflowId + ".", null));
      }
      var gatesAndPublished = signals.signalsOf(instanceId);
      return onComplete(WorkflowRoutes.unwrap(schedules.startedBy(instanceId).thenCombine(signals.startedBy(instanceId),
          java.util.Map::entry).thenCombine(gatesAndPublished, java.util.Map::entry)), all -> {
        if (all.isFailure()) {
          return failure(all.failed().get());
        }
        var both = all.get().getKey();
        var r = akka.japi.Pair.create(both.getKey(), both.getValue());
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("instanceId", instanceId);
        out.put("workflowId", workflowId);
        out.put("requestId", f.instance().requestId().orElse(null));
        Map<String, Object> startedBy = new LinkedHashMap<>();
        if (r.first().isPresent()) {
          var fire = r.first().get();
          startedBy.put("type", "schedule");
          startedBy.put("scheduleId", fire.scheduleId());
          startedBy.put("scheduledTime", fire.scheduledTime());
          startedBy.put("firedAt", fire.firedAt());
        } else if (r.second().isPresent()) {
          var trigger = r.second().get();
          startedBy.put("type", "signal");
          startedBy.put("signalId", trigger.signalId());
          startedBy.put("subscriptionId", trigger.subscriptionId());
          startedBy.put("triggeredAt", trigger.triggeredAt());
        } else if (f.instance().parentInstanceId().isPresent()) {
          startedBy.put("type", "parent");
          startedBy.put("instanceId", f.instance().parentInstanceId().get());
        } else {
          // No schedule, signal or parent: it came through POST .../instances.
          startedBy.put("type", "api");
        }
        out.put("startedBy", startedBy);
        out.put("unblockedBy", all.get().getValue().unblockedBy());
        out.put("published", all.get().getValue().published());
        return complete(Json.response(StatusCodes.OK, out));
      });
    });
  }

  private <T> Route respond(CompletionStage<T> stage, StatusCode status) {
    return onComplete(WorkflowRoutes.unwrap(stage), r -> r.isSuccess() ? complete(Json.response(status, r.get()))
        : failure(r.failed().get()));
  }

  private Route failure(Throwable t) {
    if (t instanceof WorkflowSchedules.ScheduleNotFoundException e) {
      return complete(WorkflowRoutes.problem(StatusCodes.NOT_FOUND, WorkflowSchedules.NOT_FOUND, e.getMessage(), null));
    }
    if (t instanceof WorkflowEngine.WorkflowNotFoundException e) {
      return complete(WorkflowRoutes.problem(StatusCodes.NOT_FOUND, WorkflowEngine.NOT_FOUND, e.getMessage(), null));
    }
    if (t instanceof Timing.InvalidTimingException e) {
      return complete(WorkflowRoutes.problem(StatusCodes.BAD_REQUEST, e.code(), e.getMessage(),
          e.code().equals(Timing.INVALID_TIME_ZONE) ? "timeZone" : "cron"));
    }
    if (t instanceof WorkflowSchedules.InvalidScheduleException e) {
      return complete(WorkflowRoutes.problem(e.code().equals(WorkflowSchedules.TOO_MANY) ? StatusCodes.CONFLICT
          : StatusCodes.BAD_REQUEST, e.code(), e.getMessage(), e.field()));
    }
    throw t instanceof RuntimeException re ? re : new IllegalStateException(t);
  }
}
