package io.fleetplane.http;

import static org.junit.jupiter.api.Assertions.assertEquals;

import akka.actor.typed.ActorSystem;
import akka.actor.typed.javadsl.Behaviors;
import akka.cluster.typed.Cluster;
import akka.cluster.typed.Join;
import akka.http.javadsl.Http;
import akka.http.javadsl.ServerBinding;
import akka.http.javadsl.server.Route;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fleetplane.config.FleetplaneConfig;
import io.fleetplane.persistence.DatabaseMigrations;
import io.fleetplane.persistence.PersistenceSettings;
import io.fleetplane.testkit.infra.PostgresEndpoint;
import io.fleetplane.testkit.infra.TestPostgres;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;

/**
 * One single-node cluster on its own migrated schema, serving the workflow-side routes a test
 * picks under /api/v1 behind the real error handling (no authentication: the matrix ITs cover it),
 * and the few HTTP calls and checks those route ITs share.
 */
final class WorkflowApiFixture implements AutoCloseable {

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final HttpClient HTTP = HttpClient.newHttpClient();

  final PostgresEndpoint db;
  final ActorSystem<Void> system;
  private final ServerBinding binding;

  private WorkflowApiFixture(PostgresEndpoint db, ActorSystem<Void> system, ServerBinding binding) {
    this.db = db;
    this.system = system;
    this.binding = binding;
  }

  /** Starts the node and binds the route {@code routes} builds from it. */
  static WorkflowApiFixture start(String name, Function<ActorSystem<Void>, Route> routes) throws Exception {
    PostgresEndpoint db = TestPostgres.newSchema();
    DatabaseMigrations.migrate(new PersistenceSettings(db.jdbcUrl(), db.user(), db.password(), 4, true,
        Duration.ofSeconds(10)));
    Map<String, Object> c = new HashMap<>();
    c.put("akka.actor.provider", "cluster");
    c.put("akka.remote.artery.canonical.hostname", "127.0.0.1");
    c.put("akka.remote.artery.canonical.port", 0);
    c.put("akka.cluster.jmx.multi-mbeans-in-same-jvm", "on");
    c.put("akka.loglevel", "WARNING");
    c.put("fleetplane.persistence.jdbc-url", db.jdbcUrl());
    c.put("fleetplane.persistence.user", db.user());
    c.put("fleetplane.persistence.password", db.password());
    ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), name, FleetplaneConfig.load(c));
    Cluster.get(system).manager().tell(Join.create(Cluster.get(system).selfMember().address()));
    Route route = routes.apply(system);
    ErrorHandling errors = new ErrorHandling();
    ServerBinding binding = Http.get(system).newServerAt("127.0.0.1", 0)
        .bind(errors.wrap(() -> errors.pathPrefix("api", () -> errors.pathPrefix("v1", () -> route))))
        .toCompletableFuture().get(10, TimeUnit.SECONDS);
    return new WorkflowApiFixture(db, system, binding);
  }

  /** A request; a body goes as YAML to POST /api/v1/workflows and as JSON anywhere else. */
  HttpResponse<String> call(String method, String path, String body) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + binding.localAddress().getPort()
        + path)).timeout(Duration.ofSeconds(15));
    if (body != null) {
      b.header("Content-Type", path.equals("/api/v1/workflows") ? "application/yaml" : "application/json");
    }
    b.method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
    return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  static JsonNode json(HttpResponse<String> r) throws Exception {
    return JSON.readTree(r.body());
  }

  static void assertProblem(HttpResponse<String> r, int status, String code) throws Exception {
    assertEquals(status, r.statusCode(), r.body());
    assertEquals("application/problem+json", r.headers().firstValue("Content-Type").orElse(""), r.body());
    assertEquals(code, json(r).get("code").asText(), r.body());
  }

  @Override
  public void close() throws Exception {
    binding.unbind();
    system.terminate();
    system.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
    TestPostgres.dropSchema(db);
  }
}
