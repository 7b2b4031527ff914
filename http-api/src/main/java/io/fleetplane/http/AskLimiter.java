package io.fleetplane.http;

import akka.http.javadsl.model.StatusCodes;
import akka.http.javadsl.server.AllDirectives;
import akka.http.javadsl.server.Route;
import io.fleetplane.config.ErrorCode;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;
import java.util.function.Supplier;

/**
 * Bounds the requests waiting on actors, node-wide and per entity. Beyond the node's bound a
 * request is answered at once with 503 {@code service.unavailable} and {@code Retry-After}; beyond
 * one entity's bound with 429 {@code service.entity-busy} and {@code Retry-After}. Neither queues
 * until its ask times out: under overload, clients back off early and the requests already
 * admitted finish. The per-entity bound exists because one actor answers one message at a time:
 * a client hammering one device would otherwise fill the node's whole budget and starve every
 * other device's readers, although the node itself has room.
 */
final class AskLimiter extends AllDirectives {

  private final Semaphore permits;
  private final int max;
  private final int maxPerEntity;
  /** Requests in flight per entity id; an entry exists only while its count is above zero. */
  private final ConcurrentHashMap<String, Integer> perEntity = new ConcurrentHashMap<>();

  AskLimiter(int max, int maxPerEntity) {
    this.max = max;
    this.maxPerEntity = maxPerEntity;
    this.permits = new Semaphore(max);
  }

  AskLimiter(int max) {
    this(max, max);
  }

  static AskLimiter fromConfig(com.typesafe.config.Config config) {
    return new AskLimiter(config.getInt("fleetplane.node.http.max-in-flight-asks"),
        config.getInt("fleetplane.node.http.max-in-flight-asks-per-entity"));
  }

  /** Admits a request that asks no one entity in particular (only the node-wide bound applies). */
  Route admit(Supplier<Route> inner) {
    return admit(null, inner);
  }

  /** Admits a request that asks the entity {@code entityId}: both bounds apply. */
  Route admit(String entityId, Supplier<Route> inner) {
    return extractRequestContext(ctx -> {
      if (!permits.tryAcquire()) {
        return complete(Problem.of(StatusCodes.SERVICE_UNAVAILABLE, ErrorCode.SERVICE_UNAVAILABLE,
            "The node has " + max + " requests waiting on devices already; retry after the Retry-After delay.")
            .toResponse());
      }
      if (entityId != null && !enter(entityId)) {
        permits.release();
        return complete(Problem.of(StatusCodes.TOO_MANY_REQUESTS, ErrorCode.SERVICE_ENTITY_BUSY,
            "This entity already has " + maxPerEntity + " requests waiting on it; retry after the Retry-After delay.")
            .toResponse());
      }
      Runnable release = () -> {
        if (entityId != null) {
          leave(entityId);
        }
        permits.release();
      };
      // Released when the route's result is known, whether it succeeded, failed or was rejected.
      return mapRouteResultFuture(result -> result.whenComplete((r, e) -> release.run()), () -> {
        try {
          return inner.get();
        } catch (RuntimeException e) {
          release.run();
          throw e;
        }
      });
    });
  }

  /** Requests currently admitted for this entity (for tests and diagnostics). */
  int inFlight(String entityId) {
    return perEntity.getOrDefault(entityId, 0);
  }

  private boolean enter(String entityId) {
    boolean[] admitted = {false};
    perEntity.compute(entityId, (id, n) -> {
      int current = n == null ? 0 : n;
      if (current >= maxPerEntity) {
        return n;
      }
      admitted[0] = true;
      return current + 1;
    });
    return admitted[0];
  }

  private void leave(String entityId) {
    perEntity.computeIfPresent(entityId, (id, n) -> n <= 1 ? null : n - 1);
  }
}
