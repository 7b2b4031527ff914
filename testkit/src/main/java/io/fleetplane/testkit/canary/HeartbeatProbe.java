package io.fleetplane.testkit.canary;

import akka.actor.typed.Behavior;
import akka.actor.typed.PostStop;
import akka.actor.typed.javadsl.ActorContext;
import akka.actor.typed.javadsl.Behaviors;
import akka.actor.typed.javadsl.TimerScheduler;
import com.fasterxml.jackson.databind.JsonNode;
import io.fleetplane.config.ids.CanaryTag;
import io.fleetplane.config.ids.DeviceSessionId;
import io.fleetplane.config.ids.DeviceTopic;
import io.fleetplane.config.ids.RaeSerial;
import io.fleetplane.testkit.device.DeviceSimulator;
import io.fleetplane.testkit.device.MqttProtocol;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Consumer;

/**
 * The low-rate probe between canaries: one synthetic session (RAE {@code canary-heartbeat}) that
 * publishes an update every {@code interval} and checks over HTTP that it became visible within
 * {@code timeout}. A silently broken pipeline (bridge, Kafka, registry) turns it BROKEN within
 * one timeout; the listener hears every change of status.
 *
 * <p>It keeps one MQTT connection and reconnects on the next beat when that fails; its blocking
 * MQTT calls run on a thread of its own, closed with the actor.
 */
public final class HeartbeatProbe {

  /** How often to beat, how long a beat may take to become visible, and where. */
  public record Settings(String mqttUri, String httpUrl, Optional<String> token, MqttProtocol protocol,
      Duration interval, Duration timeout) {}

  /**
   * The probe's view of the pipeline.
   *
   * @param state STARTING until the first beat resolved, then OK or BROKEN
   * @param problem why it is BROKEN (null otherwise)
   */
  public record Status(String state, String deviceSessionId, long beats, Long lastLatencyMillis, String lastOkAt,
      String problem, int consecutiveFailures) {

    public boolean broken() {
      return "BROKEN".equals(state);
    }
  }

  public sealed interface Command {}

  private record Beat() implements Command {}

  private record Poll() implements Command {}

  private record Connected(DeviceSimulator simulator, long seq) implements Command {}

  private record Published(long seq, long sentAtMillis) implements Command {}

  private record MqttFailed(String reason) implements Command {}

  private record Observed(CanaryHttp.DeviceRead read) implements Command {}

  private static final Duration POLL = Duration.ofMillis(250);

  private final Settings settings;
  private final Consumer<Status> listener;
  private final ActorContext<Command> context;
  private final TimerScheduler<Command> timers;
  private final ExecutorService mqtt;
  private final CanaryHttp http;
  private final RaeSerial rae = CanaryTag.raeFor("heartbeat");
  private final DeviceSessionId session = DeviceSessionId.random();

  private DeviceSimulator simulator;
  private long seq;
  private long pendingSeq = -1;
  private long pendingSentAt;
  private String lastObservation = "nothing yet";
  private Status status;

  private HeartbeatProbe(Settings settings, Consumer<Status> listener, ActorContext<Command> context,
      TimerScheduler<Command> timers) {
    this.settings = settings;
    this.listener = listener;
    this.context = context;
    this.timers = timers;
    this.mqtt = Executors.newSingleThreadExecutor(r -> {
      Thread t = new Thread(r, "canary-heartbeat-mqtt");
      t.setDaemon(true);
      return t;
    });
    this.http = new CanaryHttp(context.getSystem(), settings.httpUrl(), settings.token(), 2);
    this.status = new Status("STARTING", session.value(), 0, null, null, null, 0);
  }

  public static Behavior<Command> create(Settings settings, Consumer<Status> listener) {
    return Behaviors.setup(context -> Behaviors.withTimers(timers -> {
      HeartbeatProbe probe = new HeartbeatProbe(settings, listener, context, timers);
      timers.startTimerAtFixedRate(new Beat(), Duration.ZERO, settings.interval());
      return Behaviors.withMdc(Command.class, Map.of("deviceSessionId", probe.session.value()), probe.behavior());
    }));
  }

  private Behavior<Command> behavior() {
    listener.accept(status);
    return Behaviors.receive(Command.class)
        .onMessage(Beat.class, b -> beat())
        .onMessage(Connected.class, c -> {
          simulator = c.simulator();
          publish(c.seq());
          return Behaviors.same();
        })
        .onMessage(Published.class, p -> {
          pendingSeq = p.seq();
          pendingSentAt = p.sentAtMillis();
          timers.startTimerWithFixedDelay(new Poll(), POLL);
          return Behaviors.same();
        })
        .onMessage(MqttFailed.class, f -> {
          closeClient();
          broken("MQTT: " + f.reason());
          return Behaviors.same();
        })
        .onMessage(Poll.class, p -> {
          http.device(session.value()).whenComplete((read, error) -> context.getSelf().tell(
              new Observed(error == null ? read : new CanaryHttp.Failed(CanaryDevice.reason(error)))));
          return Behaviors.same();
        })
        .onMessage(Observed.class, this::observed)
        .onSignal(PostStop.class, s -> {
          closeClient();
          mqtt.shutdown();
          return Behaviors.same();
        })
        .build();
  }

  private Behavior<Command> beat() {
    if (pendingSeq >= 0 && System.currentTimeMillis() - pendingSentAt > settings.timeout().toMillis()) {
      broken("beat " + pendingSeq + " not visible over HTTP " + settings.timeout().toSeconds() + " s after it was "
          + "published: " + lastObservation);
      pendingSeq = -1;
      timers.cancel(new Poll());
    }
    if (pendingSeq >= 0) {
      return Behaviors.same(); // the last beat still has time
    }
    long next = ++seq;
    if (simulator == null || !simulator.isConnected()) {
      closeClient();
      CompletableFuture.supplyAsync(() -> DeviceSimulator.builder(settings.mqttUri(), rae, session)
              .protocol(settings.protocol()).clientId("canary-heartbeat-" + session.value().substring(0, 8))
              .timeout(settings.timeout()).connect(), mqtt)
          .whenComplete((sim, error) -> context.getSelf().tell(
              error == null ? new Connected(sim, next) : new MqttFailed(CanaryDevice.reason(error))));
    } else {
      publish(next);
    }
    return Behaviors.same();
  }

  private void publish(long n) {
    DeviceSimulator sim = simulator;
    long now = System.currentTimeMillis();
    String json = "{\"ts\":" + now + ",\"seq\":" + n + ",\"attributes\":{\"" + CanaryTag.RUN_ATTRIBUTE
        + "\":\"heartbeat\",\"heartbeat.seq\":" + n + "}}";
    CompletableFuture.runAsync(() -> sim.publish(DeviceTopic.Channel.UPDATE, json), mqtt)
        .whenComplete((ok, error) -> context.getSelf().tell(
            error == null ? new Published(n, now) : new MqttFailed(CanaryDevice.reason(error))));
  }

  private Behavior<Command> observed(Observed o) {
    if (pendingSeq < 0) {
      return Behaviors.same();
    }
    if (o.read() instanceof CanaryHttp.Found found) {
      JsonNode device = found.device();
      long visible = device.path("attributes").path("heartbeat.seq").asLong(-1);
      if (visible >= pendingSeq) {
        Instant applied = Instant.parse(device.path("lastUpdateAt").asText(Instant.EPOCH.toString()));
        long latency = Math.max(0, applied.toEpochMilli() - pendingSentAt);
        pendingSeq = -1;
        timers.cancel(new Poll());
        update(new Status("OK", session.value(), seq, latency, Instant.now().toString(), null, 0));
        return Behaviors.same();
      }
      lastObservation = "session shows beat " + visible;
    } else if (o.read() instanceof CanaryHttp.NotFound) {
      lastObservation = "session not found over HTTP";
    } else if (o.read() instanceof CanaryHttp.Failed failed) {
      lastObservation = failed.reason();
    }
    return Behaviors.same();
  }

  private void broken(String problem) {
    context.getLog().warn("Heartbeat probe broken: {}", problem);
    update(new Status("BROKEN", session.value(), seq, status.lastLatencyMillis(), status.lastOkAt(), problem,
        status.consecutiveFailures() + 1));
  }

  private void update(Status next) {
    status = next;
    try {
      listener.accept(next);
    } catch (RuntimeException e) {
      context.getLog().warn("Heartbeat listener failed: {}", e.toString());
    }
  }

  private void closeClient() {
    DeviceSimulator sim = simulator;
    simulator = null;
    if (sim != null) {
      try {
        mqtt.execute(sim::close);
      } catch (java.util.concurrent.RejectedExecutionException e) {
        sim.close();
      }
    }
  }
}
