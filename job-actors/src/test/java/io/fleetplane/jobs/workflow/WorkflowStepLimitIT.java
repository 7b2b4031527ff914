package io.fleetplane.jobs.workflow;

import static io.fleetplane.jobs.workflow.WorkflowFixture.await;
import static io.fleetplane.jobs.workflow.WorkflowFixture.awaitFinished;
import static io.fleetplane.jobs.workflow.WorkflowFixture.start;
import static io.fleetplane.jobs.workflow.WorkflowFixture.step;
import static io.fleetplane.jobs.workflow.WorkflowFixture.store;
import static io.fleetplane.jobs.workflow.WorkflowFixture.view;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.actor.typed.ActorSystem;
import akka.http.javadsl.Http;
import akka.http.javadsl.ServerBinding;
import akka.http.javadsl.model.ContentTypes;
import akka.http.javadsl.model.HttpRequest;
import akka.http.javadsl.model.HttpResponse;
import com.typesafe.config.ConfigFactory;
import io.fleetplane.jobs.workflow.WorkflowInstance.InstanceView;
import io.fleetplane.jobs.workflow.domain.InstanceStatus;
import io.fleetplane.jobs.workflow.domain.StepStatus;
import io.fleetplane.testkit.Eventually;
import io.fleetplane.testkit.infra.PostgresEndpoint;
import io.fleetplane.testkit.infra.TestPostgres;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@code fleetplane.workflows.step-type-limits}: http steps of a 5-way foreach against a server
 * that holds every request until the test lets it go, with the node limited to 2 http steps.
 */
class WorkflowStepLimitIT {

  private static PostgresEndpoint db;
  private static ActorSystem<Void> system;
  private static WorkflowEngine engine;
  private static HoldingServer server;

  @BeforeAll
  static void up() {
    db = TestPostgres.newSchema();
    WorkflowFixture.migrate(db);
    Map<String, Object> config = new HashMap<>(WorkflowFixture.config(db));
    config.put("fleetplane.workflows.step-type-limits.http", 2);
    system = WorkflowFixture.startSystem(config);
    engine = WorkflowEngine.start(system);
    server = new HoldingServer(system);
  }

  @AfterAll
  static void down() throws Exception {
    server.binding.unbind();
    WorkflowFixture.stop(system);
    TestPostgres.dropSchema(db);
  }

  @Test
  void atMostTheLimitRunAtOnceTheOthersShowQueuedAndStartWhenASlotFrees() {
    store(engine, """
        id: limited
        owner: it
        steps:
          - id: fan
            type: foreach
            foreach:
              items: "range(5)"
              as: i
              concurrency: 5
              steps:
                - {id: call, type: http, params: {url: "%s"}}
        """.formatted(server.url()));
    InstanceView started = start(engine, "limited", Map.of());
    String[] loop = new String[1];
    Eventually.await(Duration.ofSeconds(20), () -> {
      loop[0] = view(engine, started.instanceId()).flatMap(v -> step(v, "fan").foreach())
          .map(l -> l.iterationIdPrefix()).orElse(null);
      return loop[0] != null;
    }, () -> "the loop starts");
    String prefix = loop[0];

    // All 5 iterations run, 2 calls are in flight, the other 3 steps wait for a slot and say so.
    Eventually.await(Duration.ofSeconds(20), () -> server.held.size() == 2 && queued(prefix) == 3,
        () -> "2 calls held and 3 steps queued; held " + server.held.size() + ", queued " + queued(prefix));
    assertEquals(2, server.maxInFlight.get());

    // Each answer frees a slot, and a waiting step takes it.
    int answered = 0;
    while (answered < 5) {
      Eventually.await(Duration.ofSeconds(20), () -> !server.held.isEmpty(), () -> "a call arrives");
      server.held.poll().complete(HttpResponse.create().withEntity(ContentTypes.APPLICATION_JSON, "{\"ok\":true}"));
      answered++;
    }
    InstanceView done = awaitFinished(engine, started.instanceId(), Duration.ofSeconds(30));
    assertEquals(InstanceStatus.SUCCEEDED, done.status(), done.toString());
    assertEquals(5, server.calls.get());
    assertEquals(2, server.maxInFlight.get(), "never more than the limit at once");
    InstanceView child = view(engine, prefix + "4").orElseThrow();
    assertEquals(StepStatus.SUCCEEDED, step(child, "call").status());
  }

  @Test
  void limitsOnTypesThatCannotBeLimitedStopTheNodeAtStart() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> WorkflowSettings
        .stepTypeLimits(ConfigFactory.parseString("foreach = 3")));
    assertTrue(e.getMessage().contains("foreach steps cannot be limited"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> WorkflowSettings
        .stepTypeLimits(ConfigFactory.parseString("htp = 3")));
    assertTrue(e.getMessage().contains("no step type 'htp'"), e.getMessage());
    e = assertThrows(IllegalArgumentException.class, () -> WorkflowSettings
        .stepTypeLimits(ConfigFactory.parseString("device-command = 0")));
    assertTrue(e.getMessage().contains("at least 1"), e.getMessage());
    assertEquals(Map.of(io.fleetplane.jobs.workflow.domain.StepType.DEVICE_COMMAND, 16,
            io.fleetplane.jobs.workflow.domain.StepType.HTTP, 8),
        WorkflowSettings.stepTypeLimits(ConfigFactory.parseString("http = 8, device-command = 16")));
  }

  /** Iterations whose http step waits for a slot (CREATED with the queued reason). */
  private static long queued(String prefix) {
    long n = 0;
    for (int i = 0; i < 5; i++) {
      var v = view(engine, prefix + i);
      if (v.isPresent()) {
        var call = step(v.get(), "call");
        if (call.status() == StepStatus.CREATED && call.reason() != null
            && call.reason().startsWith("queued: this node runs at most 2 http steps")) {
          n++;
        }
      }
    }
    return n;
  }

  /** Holds every request until the test completes it; counts requests in flight. */
  private static final class HoldingServer {
    final ConcurrentLinkedQueue<CompletableFuture<HttpResponse>> held = new ConcurrentLinkedQueue<>();
    final AtomicInteger inFlight = new AtomicInteger();
    final AtomicInteger maxInFlight = new AtomicInteger();
    final AtomicInteger calls = new AtomicInteger();
    final ServerBinding binding;

    HoldingServer(ActorSystem<?> system) {
      binding = await(Http.get(system).newServerAt("127.0.0.1", 0).bind(this::handle));
    }

    String url() {
      return "http://127.0.0.1:" + binding.localAddress().getPort() + "/hold";
    }

    private CompletionStage<HttpResponse> handle(HttpRequest request) {
      calls.incrementAndGet();
      maxInFlight.accumulateAndGet(inFlight.incrementAndGet(), Math::max);
      CompletableFuture<HttpResponse> response = new CompletableFuture<>();
      // Counted out before the response leaves, so the next call cannot be counted first.
      CompletableFuture<HttpResponse> counted = response.thenApply(r -> {
        inFlight.decrementAndGet();
        return r;
      });
      held.add(response);
      return counted;
    }
  }
}
