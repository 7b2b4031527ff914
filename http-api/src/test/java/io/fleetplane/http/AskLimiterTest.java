package io.fleetplane.http;

import static io.fleetplane.http.ApiAuthorizationIT.assertProblem;
import static org.junit.jupiter.api.Assertions.assertEquals;

import akka.actor.typed.ActorSystem;
import akka.actor.typed.javadsl.Behaviors;
import akka.http.javadsl.Http;
import akka.http.javadsl.ServerBinding;
import akka.http.javadsl.model.StatusCodes;
import akka.http.javadsl.server.AllDirectives;
import akka.http.javadsl.server.Route;
import com.typesafe.config.ConfigFactory;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The ask bounds on a real Akka HTTP server: over the node's bound 503, over one entity's bound
 * 429, both with Retry-After at once; permits come back.
 */
class AskLimiterTest {

  private static ActorSystem<Void> system;
  private static ServerBinding binding;
  private static final AtomicReference<CompletableFuture<String>> pending = new AtomicReference<>();
  private static final AtomicReference<CompletableFuture<Void>> slowAdmitted =
      new AtomicReference<>(new CompletableFuture<>());
  // Its own client: a shared one may hold a pooled keep-alive connection to an earlier test's
  // server that had the same ephemeral port, and the held request would then fail at once.
  private static final java.net.http.HttpClient HTTP = java.net.http.HttpClient.newHttpClient();
  /** Per entity id: what its held request waits for, and a signal that it holds its permit. */
  private static final Map<String, CompletableFuture<String>> entityHeld = new java.util.concurrent.ConcurrentHashMap<>();
  private static final Map<String, CompletableFuture<Void>> entityAdmitted = new java.util.concurrent.ConcurrentHashMap<>();
  private static final AskLimiter perEntity = new AskLimiter(10, 1);

  @BeforeAll
  static void start() throws Exception {
    system = ActorSystem.create(Behaviors.empty(), "ask-limiter-test", ConfigFactory.parseMap(Map.of(
        "akka.loglevel", "WARNING", "akka.actor.provider", "local")).withFallback(ConfigFactory.load()));
    AskLimiter limiter = new AskLimiter(1);
    AllDirectives d = new AllDirectives() {};
    Route route = new ErrorHandling().wrap(() -> d.concat(
        d.path("slow", () -> d.get(() -> limiter.admit(() -> {
          // Runs once the request holds the permit: the test waits for this instead of racing probes.
          slowAdmitted.get().complete(null);
          return d.onSuccess(pending.get(), text -> d.complete(Json.response(StatusCodes.OK, Map.of("v", text))));
        }))),
        d.path(akka.http.javadsl.server.PathMatchers.segment("entity").slash(akka.http.javadsl.server.PathMatchers.segment()),
            id -> d.get(() -> perEntity.admit(id, () -> {
              entityAdmitted.computeIfAbsent(id, k -> new CompletableFuture<>()).complete(null);
              return d.onSuccess(entityHeld.getOrDefault(id, CompletableFuture.completedFuture(id)),
                  text -> d.complete(Json.response(StatusCodes.OK, Map.of("v", text))));
            }))),
        d.path("quick", () -> d.get(() -> limiter.admit(() ->
            d.onSuccess(CompletableFuture.completedFuture("q"), text -> d.complete(Json.response(StatusCodes.OK,
                Map.of("v", text)))))))));
    binding = Http.get(system).newServerAt("127.0.0.1", 0).bind(route).toCompletableFuture().get(10, TimeUnit.SECONDS);
  }

  @AfterAll
  static void stop() {
    system.terminate();
  }

  private static CompletableFuture<HttpResponse<String>> get() {
    return get("/slow");
  }

  private static CompletableFuture<HttpResponse<String>> get(String path) {
    return HTTP.sendAsync(HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
        + binding.localAddress().getPort() + path)).GET().build(), HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void overTheBoundIs503WithRetryAfterAndPermitsReturn() throws Exception {
    CompletableFuture<String> held = new CompletableFuture<>();
    pending.set(held);
    slowAdmitted.set(new CompletableFuture<>());
    CompletableFuture<HttpResponse<String>> first = get();
    slowAdmitted.get().get(10, TimeUnit.SECONDS);
    HttpResponse<String> rejected = get("/quick").get(5, TimeUnit.SECONDS);
    assertProblem(rejected, 503, "service.unavailable", "over the bound");
    assertEquals("1", rejected.headers().firstValue("Retry-After").orElse(""));

    held.complete("done");
    assertEquals(200, first.get(5, TimeUnit.SECONDS).statusCode());
    pending.set(CompletableFuture.completedFuture("again"));
    assertEquals(200, get().get(5, TimeUnit.SECONDS).statusCode(), "the permit came back");
    pending.set(CompletableFuture.failedFuture(new IllegalStateException("boom")));
    assertEquals(500, get().get(5, TimeUnit.SECONDS).statusCode());
    pending.set(CompletableFuture.completedFuture("after a failure"));
    assertEquals(200, get().get(5, TimeUnit.SECONDS).statusCode(), "a failed ask returns its permit too");
  }

  @Test
  void overOneEntitysBoundIs429EntityBusyWhileOtherEntitiesAreServed() throws Exception {
    CompletableFuture<String> held = new CompletableFuture<>();
    entityHeld.put("a", held);
    CompletableFuture<HttpResponse<String>> first = get("/entity/a");
    entityAdmitted.computeIfAbsent("a", k -> new CompletableFuture<>()).get(10, TimeUnit.SECONDS);
    assertEquals(1, perEntity.inFlight("a"));

    HttpResponse<String> busy = get("/entity/a").get(5, TimeUnit.SECONDS);
    assertProblem(busy, 429, "service.entity-busy", "a second request on a busy entity");
    assertEquals("1", busy.headers().firstValue("Retry-After").orElse(""));
    assertEquals(200, get("/entity/b").get(5, TimeUnit.SECONDS).statusCode(), "another entity is not affected");

    held.complete("done");
    assertEquals(200, first.get(5, TimeUnit.SECONDS).statusCode());
    entityHeld.remove("a");
    assertEquals(200, get("/entity/a").get(5, TimeUnit.SECONDS).statusCode(), "the entity's slot came back");
    assertEquals(0, perEntity.inFlight("a"), "no count is left behind");
  }
}
