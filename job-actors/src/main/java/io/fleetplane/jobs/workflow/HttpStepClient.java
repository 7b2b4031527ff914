package io.fleetplane.jobs.workflow;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fleetplane.jobs.workflow.domain.WorkflowDefinition.FailureKind;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * Executes {@code http} steps: params {@code url} (required), {@code method} (GET, or POST when
 * there is a body), {@code headers} (map), {@code body} (JSON). Every request carries
 * {@code Idempotency-Key: instance:step:attempt}, so a server can de-duplicate the re-sends that
 * at-least-once dispatch makes after a crash.
 *
 * <p>Outputs: {@code status}, {@code body} (parsed when JSON) and, for a JSON object body, its
 * top-level fields. 2xx succeeds; 4xx is a user error (not retried unless the policy says so);
 * 5xx and transport errors are platform errors.
 */
public final class HttpStepClient {

  public record Outcome(boolean success, JsonNode outputs, FailureKind kind, String reason) {}

  private static final ObjectMapper JSON = new ObjectMapper();
  private final HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5))
      .followRedirects(HttpClient.Redirect.NEVER).build();

  public CompletionStage<Outcome> call(Map<String, JsonNode> params, String idempotencyKey, Duration timeout) {
    HttpRequest request;
    try {
      URI uri = URI.create(params.get("url").asText());
      if (!"http".equals(uri.getScheme()) && !"https".equals(uri.getScheme())) {
        throw new IllegalArgumentException("only http and https URLs, not " + uri.getScheme());
      }
      JsonNode body = params.get("body");
      String method = params.containsKey("method") ? params.get("method").asText().toUpperCase(Locale.ROOT)
          : body == null ? "GET" : "POST";
      HttpRequest.Builder b = HttpRequest.newBuilder(uri).timeout(timeout)
          .header("Idempotency-Key", idempotencyKey);
      JsonNode headers = params.get("headers");
      if (headers != null && headers.isObject()) {
        headers.fields().forEachRemaining(h -> b.header(h.getKey(), h.getValue().asText()));
      }
      if (body != null) {
        b.header("Content-Type", "application/json");
        b.method(method, HttpRequest.BodyPublishers.ofString(body.isTextual() ? body.textValue() : body.toString()));
      } else {
        b.method(method, HttpRequest.BodyPublishers.noBody());
      }
      request = b.build();
    } catch (RuntimeException e) {
      return CompletableFuture.completedFuture(new Outcome(false, null, FailureKind.USER,
          "invalid http step input: " + e.getMessage()));
    }
    return client.sendAsync(request, HttpResponse.BodyHandlers.ofString()).handle((response, error) -> {
      if (error != null) {
        Throwable cause = error instanceof java.util.concurrent.CompletionException && error.getCause() != null
            ? error.getCause() : error;
        return new Outcome(false, null, FailureKind.PLATFORM, request.method() + " " + request.uri() + " failed: "
            + cause);
      }
      ObjectNode outputs = JSON.createObjectNode();
      JsonNode parsed;
      try {
        parsed = response.body().isEmpty() ? JSON.nullNode() : JSON.readTree(response.body());
      } catch (Exception notJson) {
        parsed = JSON.getNodeFactory().textNode(response.body());
      }
      if (parsed.isObject()) {
        outputs.setAll((ObjectNode) parsed);
      }
      outputs.put("status", response.statusCode());
      outputs.set("body", parsed);
      int status = response.statusCode();
      if (status >= 200 && status < 300) {
        return new Outcome(true, outputs, null, null);
      }
      return new Outcome(false, outputs, status >= 500 ? FailureKind.PLATFORM : FailureKind.USER,
          request.method() + " " + request.uri() + " answered " + status);
    });
  }
}
