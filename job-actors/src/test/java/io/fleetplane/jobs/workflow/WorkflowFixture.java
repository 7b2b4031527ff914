package io.fleetplane.jobs.workflow;

import akka.actor.testkit.typed.javadsl.ActorTestKit;
import akka.actor.typed.ActorSystem;
import akka.actor.typed.javadsl.Behaviors;
import akka.cluster.typed.Cluster;
import akka.cluster.typed.Join;
import akka.http.javadsl.Http;
import akka.http.javadsl.ServerBinding;
import akka.http.javadsl.model.ContentTypes;
import akka.http.javadsl.model.HttpRequest;
import akka.http.javadsl.model.HttpResponse;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fleetplane.config.FleetplaneConfig;
import io.fleetplane.jobs.workflow.WorkflowInstance.InstanceView;
import io.fleetplane.jobs.workflow.domain.InstanceStatus;
import io.fleetplane.persistence.DatabaseMigrations;
import io.fleetplane.persistence.PersistenceSettings;
import io.fleetplane.testkit.Eventually;
import io.fleetplane.testkit.infra.PostgresEndpoint;
import io.fleetplane.testkit.infra.TestPostgres;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Predicate;

/** A one-node engine on the real JDBC journal, and a tiny HTTP server for http steps. */
final class WorkflowFixture {

  static final ObjectMapper JSON = new ObjectMapper();

  private WorkflowFixture() {}

  static Map<String, Object> config(PostgresEndpoint db) {
    Map<String, Object> c = new HashMap<>();
    c.put("akka.actor.provider", "cluster");
    c.put("akka.remote.artery.canonical.hostname", "127.0.0.1");
    c.put("akka.remote.artery.canonical.port", 0);
    c.put("akka.cluster.jmx.multi-mbeans-in-same-jvm", "on");
    c.put("akka.loglevel", "WARNING");
    c.put("fleetplane.persistence.jdbc-url", db.jdbcUrl());
    c.put("fleetplane.persistence.user", db.user());
    c.put("fleetplane.persistence.password", db.password());
    return c;
  }

  static void migrate(PostgresEndpoint db) {
    DatabaseMigrations.migrate(new PersistenceSettings(db.jdbcUrl(), db.user(), db.password(), 4, true,
        Duration.ofSeconds(10)));
  }

  static ActorSystem<Void> startSystem(Map<String, Object> config) {
    return startSystem(com.typesafe.config.ConfigFactory.parseMap(config));
  }

  /** A one-node cluster on {@code config} (over Fleetplane's defaults); e.g. with a test journal. */
  static ActorSystem<Void> startSystem(com.typesafe.config.Config config) {
    ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), "workflow-it", FleetplaneConfig.load(config));
    Cluster cluster = Cluster.get(system);
    cluster.manager().tell(Join.create(cluster.selfMember().address()));
    return system;
  }

  static void stop(ActorSystem<?> system) throws Exception {
    system.terminate();
    system.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
  }

  /**
   * A fresh migrated schema and a one-node system on it, with a test kit, for tests of the journal
   * itself; {@link #close} stops the system and drops the schema.
   */
  record JournalNode(PostgresEndpoint db, ActorSystem<Void> system,
      ActorTestKit testKit) implements AutoCloseable {

    static JournalNode start() {
      PostgresEndpoint db = TestPostgres.newSchema();
      migrate(db);
      ActorSystem<Void> system = startSystem(config(db));
      return new JournalNode(db, system, ActorTestKit.create(system));
    }

    @Override
    public void close() throws Exception {
      stop(system);
      TestPostgres.dropSchema(db);
    }
  }

  static <T> T await(java.util.concurrent.CompletionStage<T> stage) {
    try {
      return stage.toCompletableFuture().get(20, TimeUnit.SECONDS);
    } catch (java.util.concurrent.ExecutionException e) {
      throw e.getCause() instanceof RuntimeException r ? r : new IllegalStateException(e.getCause());
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  static void store(WorkflowEngine engine, String yaml) {
    await(engine.store().create(yaml, Optional.of("it")));
  }

  static InstanceView start(WorkflowEngine engine, String workflowId, Map<String, JsonNode> params) {
    return await(engine.startInstance(workflowId, Optional.empty(), params, Optional.empty()));
  }

  static Optional<InstanceView> view(WorkflowEngine engine, String instanceId) {
    WorkflowInstance.GetReply reply = await(engine.get(instanceId));
    return reply instanceof WorkflowInstance.InstanceFound f ? Optional.of(f.instance()) : Optional.empty();
  }

  static InstanceView awaitView(WorkflowEngine engine, String instanceId, Duration timeout,
      Predicate<InstanceView> condition, String what) {
    InstanceView[] last = new InstanceView[1];
    Eventually.await(timeout, () -> {
      last[0] = view(engine, instanceId).orElse(null);
      return last[0] != null && condition.test(last[0]);
    }, () -> what + "; last seen: " + last[0]);
    return last[0];
  }

  static InstanceView awaitFinished(WorkflowEngine engine, String instanceId, Duration timeout) {
    return awaitView(engine, instanceId, timeout, v -> v.status().terminal(),
        "instance " + instanceId + " finishes");
  }

  static WorkflowInstance.StepView step(InstanceView v, String stepId) {
    return v.steps().stream().filter(s -> s.stepId().equals(stepId)).findFirst().orElseThrow();
  }

  /** Status changes of one step, in order, from the timeline. */
  static List<String> history(InstanceView v, String stepId) {
    return v.timeline().stream().filter(t -> stepId.equals(t.stepId())).map(t -> t.status() + "#" + t.attempt())
        .toList();
  }

  /**
   * Endpoints: /ok (200 {"value":42}), /flaky/{name}?fail=N (503 for the first N calls per name,
   * then 200 {"calls":n}), /fail (500), /bad (400). Records each call's path and Idempotency-Key.
   */
  static final class StepServer implements AutoCloseable {
    final List<String> calls = new CopyOnWriteArrayList<>();
    final Map<String, AtomicInteger> counts = new ConcurrentHashMap<>();
    private final ServerBinding binding;

    StepServer(ActorSystem<?> system) {
      binding = await(Http.get(system).newServerAt("127.0.0.1", 0).bindSync(this::handle));
    }

    String url(String path) {
      return "http://127.0.0.1:" + binding.localAddress().getPort() + path;
    }

    long callsTo(String pathPrefix) {
      return calls.stream().filter(c -> c.startsWith(pathPrefix)).count();
    }

    private HttpResponse handle(HttpRequest request) {
      String path = request.getUri().path();
      String key = request.getHeader("Idempotency-Key").map(h -> h.value()).orElse("-");
      calls.add(path + " " + key);
      if (path.equals("/ok")) {
        return json(200, "{\"value\": 42}");
      }
      if (path.startsWith("/flaky/")) {
        int fail = Integer.parseInt(request.getUri().query().get("fail").orElse("1"));
        int n = counts.computeIfAbsent(path, p -> new AtomicInteger()).incrementAndGet();
        return n <= fail ? json(503, "{\"error\": \"busy\"}") : json(200, "{\"calls\": " + n + "}");
      }
      if (path.equals("/bad")) {
        return json(400, "{\"error\": \"bad\"}");
      }
      return json(500, "{\"error\": \"boom\"}");
    }

    private static HttpResponse json(int status, String body) {
      return HttpResponse.create().withStatus(status).withEntity(ContentTypes.APPLICATION_JSON, body);
    }

    @Override
    public void close() {
      binding.unbind();
    }
  }
}
