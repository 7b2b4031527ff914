package io.fleetplane.testkit.canary;

import akka.actor.typed.ActorSystem;
import akka.actor.typed.Props;
import akka.actor.typed.javadsl.Behaviors;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.fleetplane.testkit.device.MqttClientThreads;
import java.util.HexFormat;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

/**
 * Starts canary runs: in an existing actor system (a JUnit test's, or the node's for scheduled
 * runs) or in one of its own (the command line). A run is a {@link CanaryCoordinator} with one
 * {@link CanaryDevice} child per simulated client; see testkit's reference.conf
 * ({@code fleetplane.canary}) for its knobs.
 *
 * <pre>{@code
 * CanaryResult result = Canary.run(system, settings, p -> log.info(p.line())).toCompletableFuture().join();
 * assertTrue(result.passed(), result.table());
 * }</pre>
 */
public final class Canary {

  private Canary() {}

  /** A fresh run id: short, lower-case, usable in a RAE serial and an MQTT client id. */
  public static String newRunId() {
    byte[] bytes = new byte[4];
    ThreadLocalRandom.current().nextBytes(bytes);
    return HexFormat.of().formatHex(bytes);
  }

  /** Runs a canary as a system actor of {@code system}; completes with the verdict. */
  public static CompletionStage<CanaryResult> run(ActorSystem<?> system, CanarySettings settings,
      Consumer<CanaryProgress> progress) {
    return run(system, newRunId(), settings, progress);
  }

  public static CompletionStage<CanaryResult> run(ActorSystem<?> system, String runId, CanarySettings settings,
      Consumer<CanaryProgress> progress) {
    AtomicInteger threads = new AtomicInteger();
    // Connects and acknowledged publishes block (Paho tokens): they get threads of their own, so
    // the actors never block a dispatcher thread.
    ExecutorService blocking = Executors.newFixedThreadPool(settings.mqttThreads(), r -> {
      Thread t = new Thread(r, "canary-" + runId + "-connect-" + threads.incrementAndGet());
      t.setDaemon(true);
      return t;
    });
    MqttClientThreads clientThreads = new MqttClientThreads("canary-" + runId);
    CanaryMqtt mqtt = new CanaryMqtt(blocking, clientThreads);
    CanaryHttp http = new CanaryHttp(system, settings.httpUrl(), settings.token(), settings.httpConcurrency());
    CompletableFuture<CanaryResult> done = new CompletableFuture<>();
    try {
      system.systemActorOf(CanaryCoordinator.create(runId, settings, mqtt, http, progress, done),
          "canary-" + runId, Props.empty());
    } catch (RuntimeException e) {
      blocking.shutdownNow();
      clientThreads.close();
      return CompletableFuture.failedFuture(e);
    }
    // Clients still closing finish their DISCONNECT (queued on the blocking pool); then the threads go.
    return done.whenComplete((r, e) -> {
      blocking.shutdown();
      Thread closer = new Thread(() -> {
        try {
          blocking.awaitTermination(settings.mqttTimeout().toMillis() * 2, TimeUnit.MILLISECONDS);
        } catch (InterruptedException interrupted) {
          Thread.currentThread().interrupt();
        }
        clientThreads.close();
      }, "canary-" + runId + "-close");
      closer.setDaemon(true);
      closer.start();
    });
  }

  /** Runs a canary in an actor system of its own (no cluster), terminated afterwards. */
  public static CanaryResult runStandalone(Config config, CanarySettings settings, Consumer<CanaryProgress> progress) {
    Config own = ConfigFactory.parseString("""
        akka.actor.provider = local
        akka.loggers = ["akka.event.slf4j.Slf4jLogger"]
        akka.logging-filter = "akka.event.slf4j.Slf4jLoggingFilter"
        akka.coordinated-shutdown.exit-jvm = off
        # Thousands of device actors, each woken by its MQTT and HTTP answers: with Akka's default
        # of at least 8 threads, most of the dispatcher's CPU went to parking and waking threads
        # (on 2 cores, a fifth of a 3,000-client run). One thread per core does the same work.
        akka.actor.default-dispatcher.fork-join-executor {
          parallelism-min = 2
          parallelism-factor = 1.0
        }
        """).withFallback(config);
    ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), "canary", own);
    try {
      return run(system, settings, progress).toCompletableFuture().join();
    } finally {
      system.terminate();
      system.getWhenTerminated().toCompletableFuture().join();
    }
  }
}
