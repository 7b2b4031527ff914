package io.fleetplane.http;

import akka.http.javadsl.model.HttpResponse;
import akka.http.javadsl.model.StatusCode;
import akka.http.javadsl.model.StatusCodes;
import akka.http.javadsl.server.AllDirectives;
import akka.http.javadsl.server.PathMatchers;
import akka.http.javadsl.server.Route;
import akka.http.javadsl.unmarshalling.Unmarshaller;
import com.fasterxml.jackson.databind.JsonNode;
import io.fleetplane.config.metrics.Metrics;
import io.fleetplane.jobs.workflow.WorkflowEngine;
import io.fleetplane.jobs.workflow.signal.WorkflowSignals;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;

/**
 * Signals and subscriptions:
 * <ul>
 *   <li>{@code POST /api/v1/signals} ({@code {"signalId", "name", "params", "time"}}): 201 when the
 *       id is new, 200 when it was seen before; either way the body lists the instances the signal
 *       started. Give a {@code signalId} for exactly-once: a retry with the same id starts nothing new;
 *   <li>{@code GET /api/v1/signals/{signalId}}: the signal and what it started;
 *   <li>{@code POST|GET /api/v1/workflows/{id}/subscriptions}, {@code GET|DELETE .../subscriptions/{sid}}
 *       ({@code {"signal": "table-landed", "condition": "params.table == 'orders'", "params":
 *       {"day": "${params.partition}"}}}).
 * </ul>
 */
final class SignalRoutes extends AllDirectives {

  private static final Set<String> SIGNAL_FIELDS = Set.of("signalId", "name", "params", "time");
  private static final Set<String> SUBSCRIPTION_FIELDS = Set.of("signal", "condition", "params");

  private final WorkflowSignals signals;

  SignalRoutes(WorkflowSignals signals) {
    this.signals = signals;
  }

  /** {@code /signals...} */
  Route signalRoutes() {
    return pathPrefix("signals", () -> concat(
        pathEndOrSingleSlash(() -> post(() -> entity(Unmarshaller.entityToString(), this::publish))),
        path(PathMatchers.segment(), signalId -> get(() -> respond(signals.get(signalId).thenApply(p ->
            Map.of("signal", p.signal(), "triggered", p.triggered())), StatusCodes.OK)))));
  }

  /** {@code /workflows/{id}/subscriptions...} */
  Route subscriptionRoutes() {
    return pathPrefix("workflows", () -> pathPrefix(PathMatchers.segment(), workflowId -> pathPrefix("subscriptions",
        () -> concat(
            pathEndOrSingleSlash(() -> concat(
                post(() -> entity(Unmarshaller.entityToString(), body -> subscribe(workflowId, body))),
                get(() -> respond(signals.subscriptions(workflowId).thenApply(l -> Map.of("workflowId", workflowId,
                    "subscriptions", l)), StatusCodes.OK)))),
            path(PathMatchers.segment(), subscriptionId -> concat(
                get(() -> respond(signals.subscription(workflowId, subscriptionId), StatusCodes.OK)),
                delete(() -> onComplete(unwrap(signals.unsubscribe(workflowId, subscriptionId)), r -> r.isSuccess()
                    ? complete(HttpResponse.create().withStatus(StatusCodes.NO_CONTENT))
                    : failure(r.failed().get())))))))));
  }

  private Route publish(String body) {
    JsonNode json = object(body, WorkflowSignals.INVALID, SIGNAL_FIELDS);
    if (json == null) {
      return complete(problem(StatusCodes.BAD_REQUEST, WorkflowSignals.INVALID, "the body is a JSON object: "
          + "{\"signalId\": \"...\", \"name\": \"...\", \"params\": {...}, \"time\": \"2026-11-23T10:00:00Z\"};"
          + " known fields " + SIGNAL_FIELDS, null));
    }
    if (!json.path("name").isTextual()) {
      return complete(problem(StatusCodes.BAD_REQUEST, WorkflowSignals.INVALID, "name is a string", "name"));
    }
    if (json.has("signalId") && !json.get("signalId").isTextual()) {
      return complete(problem(StatusCodes.BAD_REQUEST, WorkflowSignals.INVALID, "signalId is a string", "signalId"));
    }
    if (json.has("params") && !json.get("params").isObject()) {
      return complete(problem(StatusCodes.BAD_REQUEST, WorkflowSignals.INVALID, "params is a JSON object", "params"));
    }
    Optional<Instant> time = Optional.empty();
    if (json.has("time")) {
      try {
        time = Optional.of(Instant.parse(json.get("time").asText()));
      } catch (DateTimeParseException e) {
        return complete(problem(StatusCodes.BAD_REQUEST, WorkflowSignals.INVALID,
            "time is an ISO-8601 instant such as 2026-11-23T10:00:00Z", "time"));
      }
    }
    Map<String, JsonNode> params = new LinkedHashMap<>();
    json.path("params").fields().forEachRemaining(f -> params.put(f.getKey(), f.getValue()));
    try {
      var signal = signals.signal(Optional.ofNullable(json.path("signalId").textValue()), json.get("name").textValue(),
          params, time, "http");
      return onComplete(unwrap(signals.publish(signal)), r -> r.isSuccess()
          ? complete(Json.response(r.get().duplicate() ? StatusCodes.OK : StatusCodes.CREATED, Map.of(
              "signal", r.get().signal(), "duplicate", r.get().duplicate(), "triggered", r.get().triggered())))
          : failure(r.failed().get()));
    } catch (WorkflowSignals.InvalidSignalException e) {
      return failure(e);
    }
  }

  private Route subscribe(String workflowId, String body) {
    JsonNode json = object(body, WorkflowSignals.SUBSCRIPTION_INVALID, SUBSCRIPTION_FIELDS);
    if (json == null) {
      return complete(problem(StatusCodes.BAD_REQUEST, WorkflowSignals.SUBSCRIPTION_INVALID, "the body is a JSON"
          + " object: {\"signal\": \"name\", \"condition\": \"CEL\", \"params\": {...}}; known fields "
          + SUBSCRIPTION_FIELDS, null));
    }
    if (!json.path("signal").isTextual()) {
      return complete(problem(StatusCodes.BAD_REQUEST, WorkflowSignals.SUBSCRIPTION_INVALID, "signal is a string",
          "signal"));
    }
    if (json.has("condition") && !json.get("condition").isTextual()) {
      return complete(problem(StatusCodes.BAD_REQUEST, WorkflowSignals.SUBSCRIPTION_INVALID,
          "condition is a CEL expression (string)", "condition"));
    }
    if (json.has("params") && !json.get("params").isObject()) {
      return complete(problem(StatusCodes.BAD_REQUEST, WorkflowSignals.SUBSCRIPTION_INVALID,
          "params is a JSON object of workflow param -> value or ${expression}", "params"));
    }
    Map<String, JsonNode> mapping = new LinkedHashMap<>();
    json.path("params").fields().forEachRemaining(f -> mapping.put(f.getKey(), f.getValue()));
    return respond(signals.subscribe(workflowId, json.get("signal").textValue(),
        json.path("condition").asText(""), mapping), StatusCodes.CREATED);
  }

  /** The body as a JSON object with only known fields, or null. */
  private static JsonNode object(String body, String code, Set<String> fields) {
    JsonNode json;
    try {
      json = body.isBlank() ? null : Json.MAPPER.readTree(body);
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      return null;
    }
    if (json == null || !json.isObject()) {
      return null;
    }
    for (var it = json.fieldNames(); it.hasNext(); ) {
      if (!fields.contains(it.next())) {
        return null;
      }
    }
    return json;
  }

  private <T> Route respond(CompletionStage<T> stage, StatusCode status) {
    return onComplete(unwrap(stage), r -> r.isSuccess() ? complete(Json.response(status, r.get()))
        : failure(r.failed().get()));
  }

  private Route failure(Throwable t) {
    if (t instanceof WorkflowSignals.NotFoundException e) {
      return complete(problem(StatusCodes.NOT_FOUND, e.code(), e.getMessage(), null));
    }
    if (t instanceof WorkflowSignals.InvalidSignalException e) {
      return complete(problem(StatusCodes.BAD_REQUEST, e.code(), e.getMessage(), e.field()));
    }
    if (t instanceof WorkflowEngine.WorkflowNotFoundException e) {
      return complete(problem(StatusCodes.NOT_FOUND, WorkflowEngine.NOT_FOUND, e.getMessage(), null));
    }
    throw t instanceof RuntimeException re ? re : new IllegalStateException(t);
  }

  private static HttpResponse problem(StatusCode status, String code, String detail, String field) {
    if (status.intValue() < 500) {
      Metrics.increment("fleetplane_workflows_rejected_requests", Map.of("code", code));
    }
    return new Problem("urn:fleetplane:problem:" + code, status.reason(), status.intValue(), code, detail, field)
        .toResponse();
  }

  private static <T> CompletionStage<T> unwrap(CompletionStage<T> stage) {
    return stage.handle((v, e) -> {
      if (e == null) {
        return v;
      }
      Throwable cause = e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
      throw cause instanceof RuntimeException re ? re : new CompletionException(cause);
    });
  }
}
