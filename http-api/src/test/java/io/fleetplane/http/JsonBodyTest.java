package io.fleetplane.http;

import static io.fleetplane.http.ApiAuthorizationIT.assertProblem;
import static org.junit.jupiter.api.Assertions.assertEquals;

import akka.actor.typed.ActorSystem;
import akka.actor.typed.javadsl.Behaviors;
import akka.pattern.AskTimeoutException;
import akka.http.javadsl.Http;
import akka.http.javadsl.ServerBinding;
import akka.http.javadsl.model.StatusCodes;
import akka.http.javadsl.server.AllDirectives;
import akka.http.javadsl.server.Route;
import com.typesafe.config.ConfigFactory;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@link JsonBody} behind the node's {@link ErrorHandling}, on a real Akka HTTP server: every kind
 * of bad body gets its precise problem, and a good one reaches the route.
 */
class JsonBodyTest {

  record Target(String host, int port) {}

  record Sample(String name, Integer count, Boolean enabled, List<String> tags, Target target) {
    Sample {
      if (name != null && name.isBlank()) {
        throw new IllegalArgumentException("name must not be blank");
      }
    }
  }

  private static ActorSystem<Void> system;
  private static ServerBinding binding;

  @BeforeAll
  static void start() throws Exception {
    system = ActorSystem.create(Behaviors.empty(), "json-body-test", ConfigFactory.parseMap(Map.of(
        "akka.loglevel", "WARNING", "akka.actor.provider", "local")).withFallback(ConfigFactory.load()));
    JsonBody body = new JsonBody(1024, 3000);
    AllDirectives d = new AllDirectives() {};
    Route route = new ErrorHandling().wrap(() -> d.concat(
        d.path("sample", () -> d.post(() -> body.as(Sample.class, sample ->
            d.complete(Json.response(StatusCodes.OK, sample))))),
        // As an entity read does when the entity is too busy to answer: the ask's future fails.
        // A composed stage fails with the error wrapped in a CompletionException.
        d.path("busy-entity", () -> d.onSuccess(CompletableFuture.<String>failedFuture(
                new AskTimeoutException("Ask timed out on [EntityRef(DeviceSession, x)] after [5000 ms]"))
            .thenApply(answer -> answer), answer -> d.complete("never")))));
    binding = Http.get(system).newServerAt("127.0.0.1", 0).bind(route).toCompletableFuture().get(10, TimeUnit.SECONDS);
  }

  @AfterAll
  static void stop() {
    system.terminate();
  }

  private static HttpResponse<String> post(String body, String contentType) throws Exception {
    return NodeFixture.HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
            + binding.localAddress().getPort() + "/sample")).header("Content-Type", contentType)
        .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
  }

  private static HttpResponse<String> post(String body) throws Exception {
    return post(body, "application/json");
  }

  @Test
  void anEntityThatDidNotAnswerInTimeIsA503NotAnUnexpectedError() throws Exception {
    HttpResponse<String> busy = NodeFixture.HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
        + binding.localAddress().getPort() + "/busy-entity")).GET().build(), HttpResponse.BodyHandlers.ofString());
    assertProblem(busy, 503, "service.timeout", "an ask timed out inside a future");
  }

  @Test
  void aGoodBodyReachesTheRoute() throws Exception {
    HttpResponse<String> ok = post("{\"name\":\"a\",\"count\":3,\"enabled\":true,\"tags\":[\"x\"],"
        + "\"target\":{\"host\":\"h\",\"port\":80}}");
    assertEquals(200, ok.statusCode(), ok.body());
    assertEquals(80, NodeFixture.JSON.readTree(ok.body()).get("target").get("port").asInt());
  }

  @Test
  void brokenJsonIsMalformed() throws Exception {
    for (String broken : List.of("{\"name\":", "{name: 1}", "", "[1,2", "{\"count\":1} trailing", "null", "\u0000")) {
      assertProblem(post(broken), 400, "request.json-malformed", broken);
    }
    assertProblem(post("[1,2]"), 400, "request.json-malformed", "an array is not an object");
  }

  @Test
  void wrongTypesNameTheirField() throws Exception {
    assertField(post("{\"count\":\"many\"}"), "count");
    assertField(post("{\"count\":1.5e400}"), "count");
    assertField(post("{\"enabled\":\"yes\"}"), "enabled");
    assertField(post("{\"tags\":\"x\"}"), "tags");
    assertField(post("{\"target\":{\"port\":\"eighty\"}}"), "target.port");
    assertField(post("{\"target\":{\"port\":99999999999}}"), "target.port");
    assertField(post("{\"target\":{\"host\":\"h\",\"port\":null}}"), "target.port");
    assertField(post("{\"colour\":\"red\"}"), "colour");
    assertField(post("{\"target\":{\"hots\":\"h\",\"port\":1}}"), "target.hots");
    // A DTO's own check (its constructor) cannot name the field to Jackson: its message says it.
    HttpResponse<String> blank = post("{\"name\":\"  \"}");
    assertProblem(blank, 400, "request.invalid", "blank name");
    assertEquals("name must not be blank", NodeFixture.JSON.readTree(blank.body()).get("detail").asText());
  }

  @Test
  void oversizedAndNonJsonBodies() throws Exception {
    String huge = "{\"name\":\"" + "x".repeat(5000) + "\"}";
    assertProblem(post(huge), 413, "payload.too-large", "over the limit");
    assertProblem(post("name=a", "application/x-www-form-urlencoded"), 415, "request.unsupported-media-type", "form");
    assertProblem(post("{}", "text/plain"), 415, "request.unsupported-media-type", "text");
  }

  private static void assertField(HttpResponse<String> response, String field) throws Exception {
    assertProblem(response, 400, "request.invalid", field);
    assertEquals(field, NodeFixture.JSON.readTree(response.body()).path("field").asText(), response.body());
  }
}
