package io.fleetplane.http;

import akka.http.javadsl.model.HttpResponse;
import akka.http.javadsl.model.StatusCode;
import akka.http.javadsl.model.StatusCodes;
import akka.http.javadsl.server.AllDirectives;
import akka.http.javadsl.server.PathMatchers;
import akka.http.javadsl.server.Route;
import akka.pattern.StatusReply;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fleetplane.config.ErrorCode;
import io.fleetplane.config.InvalidInputException;
import io.fleetplane.config.metrics.Metrics;
import io.fleetplane.jobs.workflow.IterationReadSide;
import io.fleetplane.jobs.workflow.WorkflowDefinitionStore.StoredDefinition;
import io.fleetplane.jobs.workflow.WorkflowEngine;
import io.fleetplane.jobs.workflow.WorkflowInstance;
import io.fleetplane.jobs.workflow.domain.DefinitionError;
import io.fleetplane.jobs.workflow.domain.InvalidDefinitionException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;

/**
 * {@code /api/v1/workflows}: definitions (immutable versions) and their instances.
 * <ul>
 *   <li>{@code POST /workflows} (YAML or JSON body, optional {@code ?owner=}) stores a new version;
 *   <li>{@code GET /workflows}, {@code GET /workflows/{id}} (versions),
 *       {@code GET /workflows/{id}/versions/{v}} (with the source);
 *   <li>{@code POST /workflows/{id}/instances} ({@code {"params":{}, "version":n, "requestId":"..."}});
 *   <li>{@code GET /workflows/{id}/instances/{instanceId}} (state, steps, timeline),
 *       {@code .../timeline}, {@code POST .../actions/cancel}, {@code POST .../actions/pause}, {@code .../actions/resume}, {@code .../actions/restart}
 *       (a failed instance, from its failed steps).
 * </ul>
 * Takes only the engine, so authentication (workflows:read / workflows:write) can wrap it.
 */
public final class WorkflowRoutes extends AllDirectives {

  private final WorkflowEngine engine;

  public WorkflowRoutes(WorkflowEngine engine) {
    this.engine = engine;
  }

  public Route routes() {
    return pathPrefix("workflows", () -> concat(
        pathEndOrSingleSlash(() -> concat(
            post(() -> parameterOptional("owner", owner -> entity(
                akka.http.javadsl.unmarshalling.Unmarshaller.entityToString(), body -> store(body, owner)))),
            get(() -> onComplete(engine.store().list(), r -> complete(ok(r.get())))))),
        pathPrefix(PathMatchers.segment(), rawId -> workflow(checkedId(rawId)))));
  }

  /**
   * Workflow ids are what the definition parser accepts; instance ids are UUIDs, or for children
   * a UUID followed by {@code ~step~attempt[~index]}. Anything else (NUL, control characters,
   * kilobytes of text) can name nothing stored: 400 here, before it reaches SQL or sharding,
   * where a NUL byte used to fail as a 500.
   */
  private static final java.util.regex.Pattern WORKFLOW_ID =
      java.util.regex.Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,127}");
  private static final java.util.regex.Pattern INSTANCE_ID =
      java.util.regex.Pattern.compile("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}([~][A-Za-z0-9_~-]{1,400})?");

  /** A 400 naming the offending field (null: the body as a whole). */
  private static Problem.ProblemException invalid(ErrorCode code, String detail, String field) {
    return new Problem.ProblemException(Problem.of(StatusCodes.BAD_REQUEST, code, detail, field));
  }

  static String checkedId(String rawId) {
    if (!WORKFLOW_ID.matcher(rawId).matches()) {
      throw new Problem.ProblemException(Problem.of(StatusCodes.BAD_REQUEST, ErrorCode.WORKFLOW_ID_INVALID,
          "Workflow ids are 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit.",
          "workflowId"));
    }
    return rawId;
  }

  static String checkedInstanceId(String rawId) {
    if (!INSTANCE_ID.matcher(rawId).matches()) {
      throw new Problem.ProblemException(Problem.of(StatusCodes.BAD_REQUEST, ErrorCode.WORKFLOW_INSTANCE_ID_INVALID,
          "Instance ids are the lower-case UUIDs returned by POST .../instances (children add ~step~attempt).",
          "instanceId"));
    }
    return rawId;
  }

  private Route workflow(String workflowId) {
    return concat(
        pathEndOrSingleSlash(() -> get(() -> onComplete(engine.store().versions(workflowId), r -> r.get().isEmpty()
            ? complete(notFound(workflowId, Optional.empty()))
            : complete(ok(Map.of("workflowId", workflowId, "versions", r.get())))))),
        path(PathMatchers.segment("versions").slash(PathMatchers.integerSegment()), version -> get(() ->
            onComplete(engine.store().get(workflowId, Optional.of(version)), r -> complete(r.get()
                .map(d -> ok(definitionDto(d))).orElseGet(() -> notFound(workflowId, Optional.of(version))))))),
        pathPrefix("instances", () -> concat(
            pathEndOrSingleSlash(() -> post(() -> entity(akka.http.javadsl.unmarshalling.Unmarshaller
                .entityToString(), body -> startInstance(workflowId, parseJson(body))))),
            pathPrefix(PathMatchers.segment(), instanceId -> instance(workflowId, instanceId)))));
  }

  private Route instance(String workflowId, String instanceId) {
    return concat(
        pathEndOrSingleSlash(() -> get(() -> withInstance(workflowId, instanceId, v -> complete(ok(v))))),
        path("steps", () -> get(() -> parameterOptional("state", state -> parameterOptional("offset", offset ->
            parameterOptional("limit", limit -> withInstance(workflowId, instanceId,
                v -> complete(ok(stepsPage(v, state, offset, limit))))))))),
        path(PathMatchers.segment("steps").slash(PathMatchers.segment()).slash("iterations"), stepId -> get(() ->
            parameterOptional("state", state -> parameterOptional("offset", offset ->
                parameterOptional("limit", limit -> iterations(workflowId, instanceId, stepId,
                    iterationState(state), intParam(offset, 0, "offset", 0, Integer.MAX_VALUE),
                    intParam(limit, 100, "limit", 1, 1000))))))),
        path("timeline", () -> get(() -> withInstance(workflowId, instanceId,
            v -> complete(ok(Map.of("instanceId", instanceId, "timeline", v.timeline())))))),
        path(PathMatchers.segment("actions").slash("cancel"), () -> post(() -> withInstance(workflowId, instanceId,
            v -> onComplete(engine.cancel(instanceId, "cancelled through the API"), r -> cancelled(r.get()))))),
        path(PathMatchers.segment("actions").slash("pause"), () -> post(() -> withInstance(workflowId, instanceId,
            v -> onComplete(engine.pause(instanceId), r -> stateChange(r.get()))))),
        path(PathMatchers.segment("actions").slash("resume"), () -> post(() -> withInstance(workflowId, instanceId,
            v -> onComplete(engine.resume(instanceId), r -> stateChange(r.get()))))),
        path(PathMatchers.segment("actions").slash("restart"), () -> post(() -> withInstance(workflowId, instanceId,
            v -> onComplete(engine.restartFailed(instanceId), r -> r.get().isSuccess()
                ? complete(ok(r.get().getValue()))
                : complete(problem(StatusCodes.CONFLICT, WorkflowEngine.INSTANCE_NOT_FAILED,
                    r.get().getError().getMessage(), null)))))));
  }

  private Route store(String body, Optional<String> owner) {
    return onComplete(unwrap(engine.store().create(body, owner)), r -> {
      if (r.isSuccess()) {
        StoredDefinition d = r.get();
        Metrics.increment("fleetplane_workflows_definitions_stored");
        return complete(Json.response(StatusCodes.CREATED, Map.of("workflowId", d.workflowId(), "version",
            d.version(), "owner", d.owner(), "description", d.description(), "createdAt", d.createdAt())));
      }
      return failure(r.failed().get());
    });
  }

  private static JsonNode parseJson(String text) {
    try {
      return text.isBlank() ? Json.MAPPER.createObjectNode() : Json.MAPPER.readTree(text);
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw invalid(ErrorCode.REQUEST_JSON_MALFORMED, "The body is not valid JSON (" + e.getOriginalMessage()
          + "). Send {\"params\": {...}, \"version\": n, \"requestId\": \"...\"} or nothing.", null);
    }
  }

  private Route startInstance(String workflowId, JsonNode body) {
    if (!body.isObject()) {
      throw invalid(ErrorCode.REQUEST_JSON_MALFORMED, "The body is a JSON object: "
          + "{\"params\": {...}, \"version\": n, \"requestId\": \"...\"}", null);
    }
    JsonNode params = body.path("params");
    if (!params.isMissingNode() && !params.isObject()) {
      throw invalid(ErrorCode.REQUEST_INVALID, "params is a JSON object of name -> value.", "params");
    }
    JsonNode version = body.path("version");
    if (!version.isMissingNode() && !version.canConvertToExactIntegral()) {
      throw invalid(ErrorCode.REQUEST_INVALID, "version is a positive integer.", "version");
    }
    JsonNode requestId = body.path("requestId");
    if (!requestId.isMissingNode() && (!requestId.isTextual() || requestId.textValue().isBlank()
        || requestId.textValue().length() > 200)) {
      throw invalid(ErrorCode.REQUEST_INVALID, "requestId is a non-empty string of at most 200 characters.",
          "requestId");
    }
    Map<String, JsonNode> given = new LinkedHashMap<>();
    params.fields().forEachRemaining(f -> given.put(f.getKey(), f.getValue()));
    return onComplete(unwrap(engine.startInstance(workflowId,
        version.isMissingNode() ? Optional.empty() : Optional.of(version.intValue()), given,
        requestId.isMissingNode() ? Optional.empty() : Optional.of(requestId.textValue()))), r -> r.isSuccess()
        ? complete(Json.response(StatusCodes.CREATED, r.get()))
        : failure(r.failed().get()));
  }

  private Route withInstance(String workflowId, String instanceId,
      java.util.function.Function<WorkflowInstance.InstanceView, Route> inner) {
    // Checked here, where a route matched, so an unknown sub-path stays a 404.
    checkedInstanceId(instanceId);
    return onComplete(unwrap(engine.get(instanceId)), r -> {
      if (r.isFailure()) {
        return failure(r.failed().get());
      }
      if (r.get() instanceof WorkflowInstance.InstanceFound f && f.instance().workflowId().equals(workflowId)) {
        return inner.apply(f.instance());
      }
      return complete(problem(StatusCodes.NOT_FOUND, WorkflowEngine.INSTANCE_NOT_FOUND,
          "No instance " + instanceId + " of workflow " + workflowId + ".", null));
    });
  }

  /** The states an iteration is listed in. */
  static final List<String> ITERATION_STATES = List.of("created", "running", "succeeded", "failed", "cancelled");

  private static Optional<String> iterationState(Optional<String> raw) {
    return raw.map(st -> {
      String s = st.toLowerCase(java.util.Locale.ROOT);
      if (!ITERATION_STATES.contains(s)) {
        throw invalid(ErrorCode.REQUEST_INVALID, "state is one of " + ITERATION_STATES + ".", "state");
      }
      return s;
    });
  }

  /** One foreach iteration as listed: its child instance exists once it was launched. */
  record IterationDto(int index, String childInstanceId, String state, java.time.Instant startedAt,
      java.time.Instant finishedAt) {}

  /**
   * A foreach step's iterations of its current attempt, in index order, from the iterations read
   * side (the parent only counts). Not launched yet: {@code created}. Still running when the
   * step itself ended (cancelled, timed out): {@code cancelled}, as the step cancelled them.
   */
  private Route iterations(String workflowId, String instanceId, String stepId, Optional<String> state, int offset,
      int limit) {
    return withInstance(workflowId, instanceId, v -> {
      WorkflowInstance.StepView step = v.steps().stream().filter(st -> st.stepId().equals(stepId)).findFirst()
          .orElse(null);
      if (step == null) {
        return complete(problem(StatusCodes.NOT_FOUND, WorkflowEngine.STEP_NOT_FOUND, "Instance " + instanceId
            + " has no step '" + DeviceQueryParameters.printable(stepId) + "'; its steps: "
            + v.steps().stream().map(WorkflowInstance.StepView::stepId).toList() + ".", "stepId"));
      }
      if (!io.fleetplane.jobs.workflow.domain.StepType.FOREACH.yamlName().equals(step.type())) {
        return complete(problem(StatusCodes.NOT_FOUND, WorkflowEngine.STEP_NOT_FOREACH, "Step '" + stepId
            + "' is a " + step.type() + " step; only foreach steps have iterations.", "stepId"));
      }
      Map<String, Object> out = new LinkedHashMap<>();
      out.put("instanceId", instanceId);
      out.put("stepId", stepId);
      out.put("attempt", step.attempt());
      out.put("state", state.orElse(null));
      out.put("offset", offset);
      out.put("limit", limit);
      if (step.foreach().isEmpty()) {
        out.put("total", 0);
        out.put("iterations", List.of());
        return complete(ok(out));
      }
      WorkflowInstance.LoopView loop = step.foreach().get();
      boolean ended = step.status().terminal();
      String prefix = loop.iterationIdPrefix();
      if (state.isPresent() && state.get().equals("created")) {
        int notLaunched = loop.total() - loop.launched();
        List<IterationDto> page = new ArrayList<>();
        for (long i = (long) loop.launched() + offset; i < loop.total() && page.size() < limit; i++) {
          page.add(new IterationDto((int) i, prefix + i, "created", null, null));
        }
        out.put("total", notLaunched);
        out.put("iterations", page);
        return complete(ok(out));
      }
      // The table's "running" is "cancelled" once the step ended: the step's end cancelled them.
      Optional<String> stored = state.map(st -> st.equals("cancelled") ? (ended ? "running" : "none")
          : st.equals("running") ? (ended ? "none" : "running") : st);
      return onComplete(engine.iterations().page(instanceId, stepId, step.attempt(), stored, offset, limit), r -> {
        if (r.isFailure()) {
          return complete(problem(StatusCodes.SERVICE_UNAVAILABLE, ErrorCode.SERVICE_UNAVAILABLE.code(),
              "The iterations read side cannot be read right now; retry later.", null));
        }
        // Only an iteration the step left running is cancelled: a row still "running" for one the
        // parent saw finish is the read side lagging behind the parent, and stays "running" until
        // the projection catches up.
        java.util.Set<Integer> leftRunning = java.util.Set.copyOf(loop.running());
        java.util.function.Function<IterationReadSide.IterationRow, IterationDto> dto = row -> new IterationDto(
            row.index(), prefix + row.index(),
            ended && row.state().equals("running") && leftRunning.contains(row.index()) ? "cancelled" : row.state(),
            row.startedAt(), row.finishedAt());
        if (state.isPresent()) {
          out.put("total", r.get().total());
          out.put("iterations", r.get().rows().stream().map(dto).toList());
          return complete(ok(out));
        }
        Map<Integer, IterationReadSide.IterationRow> byIndex = new java.util.HashMap<>();
        r.get().rows().forEach(row -> byIndex.put(row.index(), row));
        List<IterationDto> page = new ArrayList<>();
        for (long i = offset; i < loop.total() && page.size() < limit; i++) {
          IterationReadSide.IterationRow row = byIndex.get((int) i);
          // No row: not launched yet, or launched and not projected yet.
          page.add(row != null ? dto.apply(row) : new IterationDto((int) i, prefix + i, "created", null, null));
        }
        out.put("total", loop.total());
        out.put("iterations", page);
        return complete(ok(out));
      });
    });
  }

  /** Steps of an instance, optionally only those in one state, a page at a time (definition order). */
  private static Map<String, Object> stepsPage(WorkflowInstance.InstanceView v, Optional<String> state,
      Optional<String> offset, Optional<String> limit) {
    Optional<io.fleetplane.jobs.workflow.domain.StepStatus> wanted = state.map(st -> {
      try {
        return io.fleetplane.jobs.workflow.domain.StepStatus.valueOf(st.toUpperCase(java.util.Locale.ROOT)
            .replace('-', '_'));
      } catch (IllegalArgumentException e) {
        throw invalid(ErrorCode.REQUEST_INVALID, "state is one of "
            + java.util.Arrays.toString(io.fleetplane.jobs.workflow.domain.StepStatus.values()) + ".", "state");
      }
    });
    int from = intParam(offset, 0, "offset", 0, Integer.MAX_VALUE);
    int size = intParam(limit, 100, "limit", 1, 1000);
    var matching = v.steps().stream().filter(st -> wanted.map(w -> st.status() == w).orElse(true)).toList();
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("instanceId", v.instanceId());
    out.put("total", matching.size());
    out.put("offset", from);
    out.put("steps", matching.subList(Math.min(from, matching.size()), Math.min(matching.size(),
        (int) Math.min((long) from + size, Integer.MAX_VALUE))));
    return out;
  }

  static int intParam(Optional<String> raw, int fallback, String name, int min, int max) {
    if (raw.isEmpty()) {
      return fallback;
    }
    try {
      int v = Integer.parseInt(raw.get());
      if (v >= min && v <= max) {
        return v;
      }
    } catch (NumberFormatException e) {
      // reported below
    }
    throw invalid(ErrorCode.REQUEST_INVALID, name + " is an integer in [" + min + ", " + max + "].", name);
  }

  private Route stateChange(StatusReply<WorkflowInstance.InstanceView> reply) {
    return reply.isSuccess() ? complete(ok(reply.getValue()))
        : complete(problem(StatusCodes.CONFLICT, WorkflowEngine.INSTANCE_STATE_CONFLICT, reply.getError().getMessage(),
            null));
  }

  private Route cancelled(StatusReply<WorkflowInstance.InstanceView> reply) {
    if (reply.isSuccess()) {
      return complete(ok(reply.getValue()));
    }
    return complete(problem(StatusCodes.CONFLICT, WorkflowEngine.INSTANCE_FINISHED, reply.getError().getMessage(),
        null));
  }

  /** Known failures become problem documents here; anything else goes to the shared handler. */
  private Route failure(Throwable t) {
    if (t instanceof InvalidDefinitionException e) {
      return complete(invalidDefinition(e));
    }
    if (t instanceof WorkflowEngine.WorkflowNotFoundException e) {
      return complete(problem(StatusCodes.NOT_FOUND, WorkflowEngine.NOT_FOUND, e.getMessage(), null));
    }
    if (t instanceof InvalidInputException e) {
      return complete(problem(StatusCodes.BAD_REQUEST, WorkflowEngine.INVALID_PARAMS, e.getMessage(), "params"));
    }
    if (t instanceof WorkflowEngine.RunRejectedException e) {
      return complete(problem(StatusCodes.CONFLICT, WorkflowEngine.RUN_REJECTED, e.getMessage(), null));
    }
    throw t instanceof RuntimeException re ? re : new IllegalStateException(t);
  }

  /** 400 naming every error, each with its step and line, the first one's code as the code. */
  private static HttpResponse invalidDefinition(InvalidDefinitionException e) {
    ObjectNode body = baseProblem(StatusCodes.BAD_REQUEST, e.code(), e.getMessage(), null);
    ArrayNode errors = body.putArray("errors");
    for (DefinitionError err : e.errors()) {
      ObjectNode o = errors.addObject();
      o.put("code", err.code());
      if (err.stepId() != null) {
        o.put("step", err.stepId());
      }
      o.put("line", err.line());
      o.put("message", err.message());
    }
    Metrics.increment("fleetplane_workflows_rejected_requests", Map.of("code", e.code()));
    return HttpResponse.create().withStatus(StatusCodes.BAD_REQUEST).withEntity(Problem.PROBLEM_JSON,
        body.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8));
  }

  /** A problem response of the workflow routes (schedules and signals too), counted when the caller is at fault. */
  static HttpResponse problem(StatusCode status, String code, String detail, String field) {
    if (status.intValue() < 500) {
      Metrics.increment("fleetplane_workflows_rejected_requests", Map.of("code", code));
    }
    return new Problem("urn:fleetplane:problem:" + code, status.reason(), status.intValue(), code, detail, field)
        .toResponse();
  }

  private static ObjectNode baseProblem(StatusCode status, String code, String detail, String field) {
    ObjectNode o = Json.MAPPER.createObjectNode();
    o.put("type", "urn:fleetplane:problem:" + code);
    o.put("title", status.reason());
    o.put("status", status.intValue());
    o.put("code", code);
    o.put("detail", detail);
    if (field != null) {
      o.put("field", field);
    }
    return o;
  }

  private static HttpResponse notFound(String workflowId, Optional<Integer> version) {
    return problem(StatusCodes.NOT_FOUND, WorkflowEngine.NOT_FOUND, "No workflow " + workflowId
        + version.map(v -> " version " + v).orElse("") + " is stored.", null);
  }

  private static HttpResponse ok(Object body) {
    return Json.response(StatusCodes.OK, body);
  }

  private static Map<String, Object> definitionDto(StoredDefinition d) {
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("workflowId", d.workflowId());
    out.put("version", d.version());
    out.put("owner", d.owner());
    out.put("description", d.description());
    out.put("createdAt", d.createdAt());
    out.put("format", d.format());
    out.put("source", d.source());
    out.put("steps", d.definition().totalSteps());
    return out;
  }

  /** Completion stages fail with CompletionException around the real cause; unwrap it. */
  static <T> CompletionStage<T> unwrap(CompletionStage<T> stage) {
    return stage.handle((v, e) -> {
      if (e == null) {
        return v;
      }
      Throwable cause = e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
      throw cause instanceof RuntimeException re ? re : new CompletionException(cause);
    });
  }
}
