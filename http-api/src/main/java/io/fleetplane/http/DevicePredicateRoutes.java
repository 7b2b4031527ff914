package io.fleetplane.http;

import akka.http.javadsl.model.HttpResponse;
import akka.http.javadsl.model.StatusCode;
import akka.http.javadsl.model.StatusCodes;
import akka.http.javadsl.model.headers.Location;
import akka.http.javadsl.server.AllDirectives;
import akka.http.javadsl.server.PathMatchers;
import akka.http.javadsl.server.Route;
import com.fasterxml.jackson.databind.JsonNode;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CompletionStage;

/**
 * Device-state predicates, a signal source:
 * <ul>
 *   <li>{@code POST /api/v1/signals/predicates} ({@code {"name", "signal", "scope", "match",
 *       "quantifier", "threshold", "minDevices"}}, see {@link DevicePredicate}): 201 with the predicate;
 *   <li>{@code GET /api/v1/signals/predicates}: every predicate with what its evaluator last saw;
 *   <li>{@code GET|DELETE /api/v1/signals/predicates/{predicateId}}.
 * </ul>
 * Under {@code /signals}, so the workflow scopes govern them like every signal.
 */
final class DevicePredicateRoutes extends AllDirectives {

  private final DevicePredicates predicates;
  private final JsonBody body;

  DevicePredicateRoutes(DevicePredicates predicates, JsonBody body) {
    this.predicates = predicates;
    this.body = body;
  }

  /** {@code /signals/predicates...}; must come before {@code /signals/{signalId}}. */
  Route routes() {
    return pathPrefix("signals", () -> pathPrefix("predicates", () -> fleetWide(() -> concat(
        pathEndOrSingleSlash(() -> concat(
            post(() -> body.as(JsonNode.class, this::register)),
            get(() -> respond(predicates.list().thenApply(l -> Map.of("predicates", l.stream()
                .map(DevicePredicateRoutes::view).toList())), StatusCodes.OK)))),
        path(PathMatchers.segment(), raw -> {
          String id = checkedId(raw);
          return concat(
              get(() -> respond(predicates.get(id).thenApply(p -> view(p.orElseThrow(() -> notFound(id)))),
                  StatusCodes.OK)),
              delete(() -> onComplete(WorkflowRoutes.unwrap(predicates.delete(id)), r -> {
                if (r.isFailure()) {
                  return failure(r.failed().get());
                }
                return r.get() ? complete(HttpResponse.create().withStatus(StatusCodes.NO_CONTENT))
                    : failure(notFound(id));
              })));
        })))));
  }

  /**
   * Predicates count the whole fleet and their signals carry the counts: a token limited to some
   * RAEs could learn about others' devices through them, so only a token for every RAE may use
   * these routes (403 {@value DevicePredicate#FLEET_TOKEN_REQUIRED}). No caller on the request means
   * no authentication in front of the routes (route tests), not a limited token.
   */
  private Route fleetWide(java.util.function.Supplier<Route> inner) {
    return optionalAttribute(io.fleetplane.http.auth.Authorization.CALLER, caller -> {
      if (caller.isPresent() && !caller.get().allRaes()) {
        return complete(WorkflowRoutes.problem(StatusCodes.FORBIDDEN, DevicePredicate.FLEET_TOKEN_REQUIRED,
            "Device-state predicates count every RAE's devices: they need a token for every RAE (raes [\"*\"]);"
                + " yours covers " + caller.get().raeSerials() + ".", null));
      }
      return inner.get();
    });
  }

  private Route register(JsonNode request) {
    return onComplete(WorkflowRoutes.unwrap(predicates.register(request)), r -> {
      if (r.isFailure()) {
        return failure(r.failed().get());
      }
      DevicePredicate.Stored p = r.get();
      return complete(Json.response(StatusCodes.CREATED, view(p))
          .addHeader(Location.create("/api/v1/signals/predicates/" + p.predicateId())));
    });
  }

  private static String checkedId(String raw) {
    if (!DevicePredicate.ID.matcher(raw).matches()) {
      throw new Problem.ProblemException(new Problem("urn:fleetplane:problem:" + DevicePredicate.ID_INVALID,
          "Bad Request", 400, DevicePredicate.ID_INVALID,
          "Predicate ids are the lower-case UUIDs returned by POST /api/v1/signals/predicates.", "predicateId"));
    }
    return raw;
  }

  private static NotFound notFound(String id) {
    return new NotFound(id);
  }

  /** Carried through the stage to {@link #failure}: 404. */
  private static final class NotFound extends RuntimeException {
    NotFound(String id) {
      super("No predicate " + id + ".", null, false, false);
    }
  }

  /** The API form: the definition as registered, and the evaluator's view of it. */
  static Map<String, Object> view(DevicePredicate.Stored p) {
    Map<String, Object> state = new LinkedHashMap<>();
    state.put("satisfied", p.satisfied());
    state.put("generation", p.generation());
    state.put("lastSignalId", p.generation() == 0 ? null : DevicePredicate.signalId(p.predicateId(), p.generation()));
    state.put("signalPending", p.pendingSignal() != null);
    state.put("lastTotal", p.lastTotal());
    state.put("lastMatching", p.lastMatching());
    state.put("lastEvaluatedAt", p.lastEvaluatedAt());
    state.put("lastCrossedAt", p.lastCrossedAt());
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("predicateId", p.predicateId());
    out.put("name", p.name());
    out.put("signal", p.signal());
    out.put("scope", p.predicate().scope());
    out.put("match", p.predicate().match());
    out.put("quantifier", p.predicate().quantifier());
    if (p.predicate().threshold() != null) {
      out.put("threshold", p.predicate().threshold());
    }
    out.put("minDevices", p.predicate().minDevices());
    out.put("createdAt", p.createdAt());
    out.put("state", state);
    return out;
  }

  private <T> Route respond(CompletionStage<T> stage, StatusCode status) {
    return onComplete(WorkflowRoutes.unwrap(stage), r -> r.isSuccess() ? complete(Json.response(status, r.get()))
        : failure(r.failed().get()));
  }

  private Route failure(Throwable t) {
    if (t instanceof NotFound e) {
      return complete(WorkflowRoutes.problem(StatusCodes.NOT_FOUND, DevicePredicate.NOT_FOUND,
          e.getMessage(), null));
    }
    if (t instanceof DevicePredicateStore.NameTakenException e) {
      return complete(WorkflowRoutes.problem(StatusCodes.CONFLICT, DevicePredicate.NAME_TAKEN, e.getMessage(), "name"));
    }
    if (t instanceof DevicePredicate.InvalidPredicateException e) {
      return complete(WorkflowRoutes.problem(StatusCodes.BAD_REQUEST, e.code(), e.getMessage(), e.field()));
    }
    throw t instanceof RuntimeException re ? re : new IllegalStateException(t);
  }
}
