package io.fleetplane.testkit.canary;

import akka.actor.typed.ActorSystem;
import akka.event.LoggingAdapter;
import akka.http.javadsl.Http;
import akka.http.javadsl.model.HttpRequest;
import akka.http.javadsl.model.HttpResponse;
import akka.http.javadsl.model.headers.Authorization;
import akka.http.javadsl.settings.ClientConnectionSettings;
import akka.http.javadsl.settings.ConnectionPoolSettings;
import akka.stream.Materializer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import scala.concurrent.duration.FiniteDuration;

/**
 * The canary's view of a node over its public HTTP API: a session's state and the Prometheus
 * metrics. At most {@code concurrency} requests are in flight, so that thousands of sessions
 * checking themselves do not turn verification into the load under test. Sends a bearer token
 * when given one, so it works against a node that requires authentication.
 *
 * <p>Requests go through Akka HTTP's client on the run's own dispatcher. The JDK's HttpClient,
 * used before, hands every request and response between its selector thread, a cached pool and
 * the common pool: in a 3,000-client canary on 2 cores those hand-offs (thread park/unpark) were
 * a third of the canary's CPU, taken from the node under test.
 */
public final class CanaryHttp {

  /** What one GET of a device returned. */
  public sealed interface DeviceRead {}

  public record Found(JsonNode device) implements DeviceRead {}

  public record NotFound() implements DeviceRead {}

  /** Any other status, or no answer; {@code reason} says which. */
  public record Failed(String reason) implements DeviceRead {}

  private record Answer(int status, String body) {}

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final long REQUEST_TIMEOUT_MILLIS = 10_000;

  private final Http http;
  private final Materializer materializer;
  private final LoggingAdapter log;
  private final ConnectionPoolSettings pool;
  private final String baseUrl;
  private final Optional<String> token;
  private final Semaphore permits;
  private final java.util.Queue<Runnable> waiting = new java.util.concurrent.ConcurrentLinkedQueue<>();
  private final java.util.concurrent.atomic.AtomicLong deviceReads = new java.util.concurrent.atomic.AtomicLong();

  public CanaryHttp(ActorSystem<?> system, String baseUrl, Optional<String> token, int concurrency) {
    this.baseUrl = baseUrl.endsWith("/") ? baseUrl.substring(0, baseUrl.length() - 1) : baseUrl;
    this.token = token;
    this.permits = new Semaphore(concurrency);
    this.http = Http.get(system);
    this.materializer = Materializer.matFromSystem(system);
    this.log = system.classicSystem().log();
    // Our window bounds what is in flight; the pool's queue only needs room for a request whose
    // permit came back before its connection did (its size must be a power of two).
    this.pool = ConnectionPoolSettings.create(system.classicSystem())
        .withMaxConnections(concurrency)
        .withMaxOpenRequests(Integer.highestOneBit(concurrency) * 4)
        .withMaxRetries(0)
        .withConnectionSettings(ClientConnectionSettings.create(system.classicSystem())
            .withConnectingTimeout(FiniteDuration.create(5, TimeUnit.SECONDS)));
  }

  /** {@code GET /api/v1/devices/{id}}. Never fails: errors come back as {@link Failed}. */
  public CompletionStage<DeviceRead> device(String deviceSessionId) {
    deviceReads.incrementAndGet();
    return send("/api/v1/devices/" + deviceSessionId).handle((response, error) -> {
      if (error != null) {
        return new Failed("no answer: " + rootMessage(error));
      }
      if (response.status() == 404) {
        return new NotFound();
      }
      if (response.status() != 200) {
        return new Failed("HTTP " + response.status() + ": " + abbreviate(response.body()));
      }
      try {
        return new Found(JSON.readTree(response.body()));
      } catch (IOException e) {
        return new Failed("unreadable JSON: " + e.getMessage());
      }
    });
  }

  /** How many times {@link #device} was called. */
  public long deviceReads() {
    return deviceReads.get();
  }

  /** {@code GET /metrics} as text; fails the stage when the node does not answer 200. */
  public CompletionStage<String> metrics() {
    return send("/metrics").thenApply(response -> {
      if (response.status() != 200) {
        throw new IllegalStateException("GET /metrics answered " + response.status());
      }
      return response.body();
    });
  }

  private CompletionStage<Answer> send(String path) {
    HttpRequest request = HttpRequest.GET(baseUrl + path);
    if (token.isPresent()) {
      request = request.addHeader(Authorization.oauth2(token.get()));
    }
    HttpRequest ready = request;
    CompletableFuture<Answer> result = new CompletableFuture<>();
    // Callers are actors: a full window queues the request instead of blocking their thread.
    waiting.add(() -> {
      CompletableFuture<Answer> sent;
      try {
        sent = http.singleRequest(ready, http.defaultClientHttpsContext(), pool, log)
            .thenCompose(this::readBody)
            .toCompletableFuture()
            .orTimeout(REQUEST_TIMEOUT_MILLIS, TimeUnit.MILLISECONDS);
      } catch (RuntimeException e) {
        sent = CompletableFuture.failedFuture(e);
      }
      sent.whenComplete((r, e) -> {
        permits.release();
        drain();
        if (e != null) {
          result.completeExceptionally(e);
        } else {
          result.complete(r);
        }
      });
    });
    drain();
    return result;
  }

  private CompletionStage<Answer> readBody(HttpResponse response) {
    return response.entity().toStrict(REQUEST_TIMEOUT_MILLIS, materializer)
        .thenApply(strict -> new Answer(response.status().intValue(), strict.getData().utf8String()));
  }

  private void drain() {
    while (!waiting.isEmpty() && permits.tryAcquire()) {
      Runnable next = waiting.poll();
      if (next == null) {
        permits.release();
        return;
      }
      next.run();
    }
  }

  private static String rootMessage(Throwable error) {
    Throwable t = error;
    while (t.getCause() != null) {
      t = t.getCause();
    }
    return t.getClass().getSimpleName() + (t.getMessage() == null ? "" : " " + t.getMessage());
  }

  private static String abbreviate(String body) {
    return body.length() > 200 ? body.substring(0, 200) + "..." : body;
  }
}
