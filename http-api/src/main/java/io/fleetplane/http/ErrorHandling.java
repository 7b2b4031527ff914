package io.fleetplane.http;

import akka.http.javadsl.model.HttpEntity;
import akka.http.javadsl.model.HttpResponse;
import akka.http.javadsl.model.StatusCodes;
import akka.http.javadsl.server.AllDirectives;
import akka.http.javadsl.server.ExceptionHandler;
import akka.http.javadsl.server.RejectionHandler;
import akka.http.javadsl.server.Route;
import io.fleetplane.config.ErrorCode;
import io.fleetplane.config.InvalidInputException;
import io.fleetplane.config.metrics.Metrics;
import akka.http.scaladsl.model.EntityStreamSizeException;
import java.util.Map;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeoutException;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one exception handler and the one rejection handler: every error leaves the API as
 * {@code application/problem+json} with a stable code, never as Akka's plain-text defaults and
 * never as a bare 500 without a code.
 */
final class ErrorHandling extends AllDirectives {

  private static final Logger log = LoggerFactory.getLogger(ErrorHandling.class);

  private static final ExceptionHandler EXCEPTIONS = exceptionHandler();
  private static final RejectionHandler REJECTIONS = rejectionHandler();

  /**
   * The route inside both handlers. {@code inner} is called once, here: a directive's supplier
   * runs on every request it matches, so handing {@code inner} itself to the directive would
   * rebuild the node's whole route tree (and both handlers) per request. JFR showed that tree
   * building as the largest cost of a device read ({@code ./fleetplane bench http}).
   */
  Route wrap(Supplier<Route> inner) {
    Route built = inner.get();
    return handleExceptions(EXCEPTIONS, () -> handleRejections(REJECTIONS, () -> built));
  }

  static ExceptionHandler exceptionHandler() {
    return ExceptionHandler.newBuilder().matchAny(ErrorHandling::routeFor).build();
  }

  /**
   * A route that fails with a future's error sees it wrapped ({@code CompletionException}): an
   * entity that did not answer an ask in time is a 503 whether the route joined the future or
   * composed it, not an unexpected 500.
   */
  private static Route routeFor(Throwable error) {
    Throwable e = error;
    while ((e instanceof CompletionException || e instanceof ExecutionException) && e.getCause() != null) {
      e = e.getCause();
    }
    if (e instanceof Problem.ProblemException p) {
      return completeProblem(p.problem());
    }
    if (e instanceof InvalidInputException i) {
      return completeProblem(Problem.of(StatusCodes.BAD_REQUEST, i.errorCode(), i.getMessage()));
    }
    if (e instanceof EntityStreamSizeException size) {
      return completeProblem(Problem.of(StatusCodes.PAYLOAD_TOO_LARGE, ErrorCode.PAYLOAD_TOO_LARGE,
          "The request body is larger than " + size.limit() + " bytes; send less."));
    }
    if (e instanceof TimeoutException) {
      return completeProblem(Problem.of(StatusCodes.SERVICE_UNAVAILABLE, ErrorCode.TIMEOUT,
          "The service did not answer in time; retry after the Retry-After delay."));
    }
    log.error("Unhandled error in HTTP route", error);
    return completeProblem(Problem.of(StatusCodes.INTERNAL_SERVER_ERROR, ErrorCode.INTERNAL,
        "Unexpected error; it was logged. Retry, and report it if it persists."));
  }

  /**
   * Akka's default rejection handler knows the right status and a precise message for every
   * rejection (wrong method, missing parameter, unsupported media type, entity too large); we
   * keep those and re-wrap the response as a problem document.
   */
  static RejectionHandler rejectionHandler() {
    return RejectionHandler.defaultHandler().mapRejectionResponse(response -> {
      if (response.entity().getContentType().equals(Problem.PROBLEM_JSON)) {
        return response;
      }
      String text = strictText(response);
      int status = response.status().intValue();
      ErrorCode code = switch (status) {
        case 404 -> ErrorCode.ROUTE_NOT_FOUND;
        case 405 -> ErrorCode.METHOD_NOT_ALLOWED;
        case 413 -> ErrorCode.PAYLOAD_TOO_LARGE;
        case 415 -> ErrorCode.REQUEST_UNSUPPORTED_MEDIA_TYPE;
        case 503 -> ErrorCode.SERVICE_UNAVAILABLE;
        // Akka's own entity unmarshalling (routes that do not use JsonBody) rejects broken JSON so.
        case 400 -> text.startsWith("The request content was malformed") ? ErrorCode.REQUEST_JSON_MALFORMED
            : ErrorCode.REQUEST_INVALID;
        default -> status >= 500 ? ErrorCode.INTERNAL : ErrorCode.REQUEST_INVALID;
      };
      Metrics.increment(Problem.METRIC, Map.of("code", code.code(), "status", Integer.toString(status)));
      String detail = status == 404 && text.startsWith("The requested resource could not be found")
          ? "No such route. The API lives under /api/v1; see /api/v1/openapi.json."
          : text;
      Problem problem = new Problem("urn:fleetplane:problem:" + code.code(), response.status().reason(),
          status, code.code(), detail, null);
      return HttpResponse.create().withStatus(response.status())
          .withHeaders(response.getHeaders())
          .withEntity(Problem.PROBLEM_JSON, problem.toJson());
    });
  }

  private static String strictText(HttpResponse response) {
    if (response.entity() instanceof HttpEntity.Strict strict) {
      return strict.getData().decodeString(StandardCharsets.UTF_8);
    }
    return response.status().reason();
  }

  static Route completeProblem(Problem problem) {
    return new AllDirectives() {}.complete(problem.toResponse());
  }
}
