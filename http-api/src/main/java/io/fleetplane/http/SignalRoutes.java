package io.fleetplane.http;

import akka.http.javadsl.model.HttpResponse;
import akka.http.javadsl.model.StatusCode;
import akka.http.javadsl.model.StatusCodes;
import akka.http.javadsl.server.AllDirectives;
import akka.http.javadsl.server.PathMatchers;
import akka.http.javadsl.server.Route;
import com.fasterxml.jackson.databind.JsonNode;
import io.fleetplane.jobs.workflow.WorkflowEngine;
import io.fleetplane.jobs.workflow.signal.WorkflowSignals;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletionStage;

/**
 * Signals and subscriptions:
 * <ul>
 *   <li>{@code POST /api/v1/signals} ({@code {"signalId", "name", "params", "time"}}): 201 when the
 *       id is new, 200 when it was seen before; either way the body lists the instances the signal
 *       started. Give a {@code signalId} for exactly-once: a retry with the same id starts nothing new;
 *   <li>{@code GET /api/v1/signals/{signalId}}: the signal and its lineage: the instances it started,
 *       the gated steps it opened, and the workflow step that published it (if one did);
 *   <li>{@code POST|GET /api/v1/workflows/{id}/subscriptions}, {@code GET|DELETE .../subscriptions/{sid}}
 *       ({@code {"signal": "table-landed", "condition": "params.table == 'orders'", "params":
 *       {"day": "${params.partition}"}}}).
 * </ul>
 */
final class SignalRoutes extends AllDirectives {

  /**
   * Bodies. Unknown fields, broken JSON, a wrong content type and an oversized body are
   * JsonBody's (request.*); scalars arrive as JSON nodes and are checked here, because Jackson
   * would quietly coerce {@code "name": 7} to "7".
   */
  record SignalBody(JsonNode signalId, JsonNode name, JsonNode params, JsonNode time) {}

  record SubscriptionBody(JsonNode signal, JsonNode condition, JsonNode params) {}

  private static final java.util.regex.Pattern SUBSCRIPTION_ID =
      java.util.regex.Pattern.compile("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}");

  private final WorkflowSignals signals;
  private final JsonBody body;

  SignalRoutes(WorkflowSignals signals, JsonBody body) {
    this.signals = signals;
    this.body = body;
  }

  /** {@code /signals...} */
  Route signalRoutes() {
    return pathPrefix("signals", () -> concat(
        pathEndOrSingleSlash(() -> post(() -> body.as(SignalBody.class, this::publish))),
        path(PathMatchers.segment(), signalId -> get(() -> respond(signals.lineage(checked(signalId,
            WorkflowSignals.isValidSignalId(signalId), WorkflowSignals.ID_INVALID, "signalId",
            "Signal ids are 1-200 letters, digits and . _ : @ ~ -, starting with a letter or digit."))
            .thenApply(SignalRoutes::lineageBody), StatusCodes.OK)))));
  }

  /** Lineage from a signal: forwards (instances started, gates opened) and back (the step that published it). */
  private static Map<String, Object> lineageBody(WorkflowSignals.SignalLineage l) {
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("signal", l.signal());
    out.put("triggered", l.triggered());
    out.put("unblocked", l.unblocked());
    out.put("publishedBy", l.publishedBy().orElse(null));
    return out;
  }

  /** {@code /workflows/{id}/subscriptions...} */
  Route subscriptionRoutes() {
    return pathPrefix("workflows", () -> pathPrefix(PathMatchers.segment(), rawWorkflowId -> pathPrefix("subscriptions",
        () -> concat(
            pathEndOrSingleSlash(() -> concat(
                post(() -> body.as(SubscriptionBody.class, request -> subscribe(WorkflowRoutes.checkedId(rawWorkflowId),
                    request))),
                get(() -> {
                  String workflowId = WorkflowRoutes.checkedId(rawWorkflowId);
                  return respond(signals.subscriptions(workflowId).thenApply(l -> Map.of("workflowId", workflowId,
                      "subscriptions", l)), StatusCodes.OK);
                }))),
            path(PathMatchers.segment(), rawSubscriptionId -> subscription(WorkflowRoutes.checkedId(rawWorkflowId),
                checked(rawSubscriptionId, SUBSCRIPTION_ID.matcher(rawSubscriptionId).matches(),
                    WorkflowSignals.SUBSCRIPTION_ID_INVALID, "subscriptionId",
                    "Subscription ids are the lower-case UUIDs returned by POST .../subscriptions.")))))));
  }

  private Route subscription(String workflowId, String subscriptionId) {
    return concat(
                get(() -> respond(signals.subscription(workflowId, subscriptionId), StatusCodes.OK)),
                delete(() -> onComplete(WorkflowRoutes.unwrap(signals.unsubscribe(workflowId, subscriptionId)), r -> r.isSuccess()
                    ? complete(HttpResponse.create().withStatus(StatusCodes.NO_CONTENT))
                    : failure(r.failed().get()))));
  }

  /** {@code raw} when {@code valid}; else a 400 naming the path parameter. */
  private static String checked(String raw, boolean valid, String code, String field, String detail) {
    if (!valid) {
      throw new Problem.ProblemException(new Problem("urn:fleetplane:problem:" + code, "Bad Request", 400, code,
          detail, field));
    }
    return raw;
  }

  private Route publish(SignalBody request) {
    if (request.name() == null || !request.name().isTextual()) {
      return complete(WorkflowRoutes.problem(StatusCodes.BAD_REQUEST, WorkflowSignals.INVALID, "name is a string: the signal's"
          + " name, such as table-landed", "name"));
    }
    if (request.signalId() != null && !request.signalId().isTextual()) {
      return complete(WorkflowRoutes.problem(StatusCodes.BAD_REQUEST, WorkflowSignals.INVALID, "signalId is a string", "signalId"));
    }
    if (request.params() != null && !request.params().isObject()) {
      return complete(WorkflowRoutes.problem(StatusCodes.BAD_REQUEST, WorkflowSignals.INVALID, "params is a JSON object", "params"));
    }
    Optional<Instant> time = Optional.empty();
    if (request.time() != null) {
      try {
        time = Optional.of(Instant.parse(request.time().asText()));
      } catch (DateTimeParseException e) {
        return complete(WorkflowRoutes.problem(StatusCodes.BAD_REQUEST, WorkflowSignals.INVALID,
            "time is an ISO-8601 instant such as 2026-11-23T10:00:00Z", "time"));
      }
    }
    Map<String, JsonNode> params = fields(request.params());
    try {
      var signal = signals.signal(Optional.ofNullable(request.signalId()).map(JsonNode::textValue),
          request.name().textValue(), params, time, "http");
      return onComplete(WorkflowRoutes.unwrap(signals.publish(signal)), r -> r.isSuccess()
          ? complete(Json.response(r.get().duplicate() ? StatusCodes.OK : StatusCodes.CREATED, Map.of(
              "signal", r.get().signal(), "duplicate", r.get().duplicate(), "triggered", r.get().triggered())))
          : failure(r.failed().get()));
    } catch (WorkflowSignals.InvalidSignalException e) {
      return failure(e);
    }
  }

  private Route subscribe(String workflowId, SubscriptionBody request) {
    if (request.signal() == null || !request.signal().isTextual()) {
      return complete(WorkflowRoutes.problem(StatusCodes.BAD_REQUEST, WorkflowSignals.SUBSCRIPTION_INVALID, "signal is a string:"
          + " the name of the signals to subscribe to", "signal"));
    }
    if (request.condition() != null && !request.condition().isTextual()) {
      return complete(WorkflowRoutes.problem(StatusCodes.BAD_REQUEST, WorkflowSignals.SUBSCRIPTION_INVALID,
          "condition is a CEL expression (string)", "condition"));
    }
    if (request.params() != null && !request.params().isObject()) {
      return complete(WorkflowRoutes.problem(StatusCodes.BAD_REQUEST, WorkflowSignals.SUBSCRIPTION_INVALID,
          "params is a JSON object of workflow param -> value or ${expression}", "params"));
    }
    return respond(signals.subscribe(workflowId, request.signal().textValue(),
        request.condition() == null ? "" : request.condition().textValue(), fields(request.params())),
        StatusCodes.CREATED);
  }

  private static Map<String, JsonNode> fields(JsonNode object) {
    Map<String, JsonNode> out = new LinkedHashMap<>();
    if (object != null) {
      object.fields().forEachRemaining(f -> out.put(f.getKey(), f.getValue()));
    }
    return out;
  }

  private <T> Route respond(CompletionStage<T> stage, StatusCode status) {
    return onComplete(WorkflowRoutes.unwrap(stage), r -> r.isSuccess() ? complete(Json.response(status, r.get()))
        : failure(r.failed().get()));
  }

  private Route failure(Throwable t) {
    if (t instanceof WorkflowSignals.NotFoundException e) {
      return complete(WorkflowRoutes.problem(StatusCodes.NOT_FOUND, e.code(), e.getMessage(), null));
    }
    if (t instanceof WorkflowSignals.InvalidSignalException e) {
      return complete(WorkflowRoutes.problem(StatusCodes.BAD_REQUEST, e.code(), e.getMessage(), e.field()));
    }
    if (t instanceof WorkflowEngine.WorkflowNotFoundException e) {
      return complete(WorkflowRoutes.problem(StatusCodes.NOT_FOUND, WorkflowEngine.NOT_FOUND, e.getMessage(), null));
    }
    throw t instanceof RuntimeException re ? re : new IllegalStateException(t);
  }
}
