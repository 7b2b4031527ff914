package io.fleetplane.http;

import akka.http.javadsl.model.StatusCodes;
import akka.http.javadsl.server.AllDirectives;
import akka.http.javadsl.server.Route;
import io.fleetplane.config.ErrorCode;
import java.util.concurrent.Semaphore;
import java.util.function.Supplier;

/**
 * Bounds the requests waiting on actors at once. Beyond the bound a request is answered at once
 * with 503 {@code service.unavailable} and {@code Retry-After}, instead of queueing until its ask
 * times out: under overload, clients back off early and the requests already admitted finish.
 */
final class AskLimiter extends AllDirectives {

  private final Semaphore permits;
  private final int max;

  AskLimiter(int max) {
    this.max = max;
    this.permits = new Semaphore(max);
  }

  static AskLimiter fromConfig(com.typesafe.config.Config config) {
    return new AskLimiter(config.getInt("fleetplane.node.http.max-in-flight-asks"));
  }

  Route admit(Supplier<Route> inner) {
    return extractRequestContext(ctx -> {
      if (!permits.tryAcquire()) {
        return complete(Problem.of(StatusCodes.SERVICE_UNAVAILABLE, ErrorCode.SERVICE_UNAVAILABLE,
            "The node has " + max + " requests waiting on devices already; retry after the Retry-After delay.")
            .toResponse());
      }
      // Released when the route's result is known, whether it succeeded, failed or was rejected.
      return mapRouteResultFuture(result -> result.whenComplete((r, e) -> permits.release()), () -> {
        try {
          return inner.get();
        } catch (RuntimeException e) {
          permits.release();
          throw e;
        }
      });
    });
  }
}
