package io.fleetplane.testkit.canary;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Semaphore;

/**
 * The canary's view of a node over its public HTTP API: a session's state and the Prometheus
 * metrics. At most {@code concurrency} requests are in flight, so that thousands of sessions
 * checking themselves do not turn verification into the load under test. Sends a bearer token
 * when given one, so it works against a node that requires authentication.
 */
public final class CanaryHttp {

  /** What one GET of a device returned. */
  public sealed interface DeviceRead {}

  public record Found(JsonNode device) implements DeviceRead {}

  public record NotFound() implements DeviceRead {}

  /** Any other status, or no answer; {@code reason} says which. */
  public record Failed(String reason) implements DeviceRead {}

  private static final ObjectMapper JSON = new ObjectMapper();

  private final HttpClient client;
  private final String baseUrl;
  private final Optional<String> token;
  private final Semaphore permits;
  private final java.util.Queue<Runnable> waiting = new java.util.concurrent.ConcurrentLinkedQueue<>();

  public CanaryHttp(String baseUrl, Optional<String> token, int concurrency) {
    this.baseUrl = baseUrl.endsWith("/") ? baseUrl.substring(0, baseUrl.length() - 1) : baseUrl;
    this.token = token;
    this.permits = new Semaphore(concurrency);
    this.client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
        .connectTimeout(Duration.ofSeconds(5)).build();
  }

  /** {@code GET /api/v1/devices/{id}}. Never fails: errors come back as {@link Failed}. */
  public CompletionStage<DeviceRead> device(String deviceSessionId) {
    return send("/api/v1/devices/" + deviceSessionId).handle((response, error) -> {
      if (error != null) {
        return new Failed("no answer: " + rootMessage(error));
      }
      if (response.statusCode() == 404) {
        return new NotFound();
      }
      if (response.statusCode() != 200) {
        return new Failed("HTTP " + response.statusCode() + ": " + abbreviate(response.body()));
      }
      try {
        return new Found(JSON.readTree(response.body()));
      } catch (IOException e) {
        return new Failed("unreadable JSON: " + e.getMessage());
      }
    });
  }

  /** {@code GET /metrics} as text; fails the stage when the node does not answer 200. */
  public CompletionStage<String> metrics() {
    return send("/metrics").thenApply(response -> {
      if (response.statusCode() != 200) {
        throw new IllegalStateException("GET /metrics answered " + response.statusCode());
      }
      return response.body();
    });
  }

  /** Any GET under the base URL, e.g. for tests. */
  public CompletionStage<HttpResponse<String>> get(String path) {
    return send(path);
  }

  private CompletionStage<HttpResponse<String>> send(String path) {
    HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(baseUrl + path))
        .timeout(Duration.ofSeconds(10)).GET();
    token.ifPresent(t -> request.header("Authorization", "Bearer " + t));
    CompletableFuture<HttpResponse<String>> result = new CompletableFuture<>();
    // Callers are actors: a full window queues the request instead of blocking their thread.
    waiting.add(() -> {
      CompletableFuture<HttpResponse<String>> sent;
      try {
        sent = client.sendAsync(request.build(), HttpResponse.BodyHandlers.ofString());
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
