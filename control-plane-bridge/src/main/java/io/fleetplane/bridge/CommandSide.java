package io.fleetplane.bridge;

import akka.Done;
import akka.actor.typed.ActorSystem;
import io.fleetplane.bridge.command.CommandBridge;
import io.fleetplane.bridge.command.CommandBridgeSettings;
import io.fleetplane.bridge.domain.Backoff;
import io.fleetplane.config.KafkaSettings;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The cloud-to-device half of the standalone bridge process: keeps trying to start the
 * {@link CommandBridge} until it runs. {@link CommandBridge#start} gives up when the broker is not
 * reachable at its first connection (the node wants that: it fails fast at start-up); a process of
 * its own must instead wait for the broker like the device-to-cloud half does. Once started, the
 * command bridge reconnects and restarts its stream by itself.
 */
final class CommandSide {

  private static final Logger log = LoggerFactory.getLogger(CommandSide.class);

  private final ActorSystem<?> system;
  private final CommandBridgeSettings settings;
  private final KafkaSettings kafka;
  private final Backoff backoff;
  private final AtomicBoolean stopping = new AtomicBoolean();
  private volatile CommandBridge running;
  private volatile String lastFailure = "starting";
  private int attempts;

  private CommandSide(ActorSystem<?> system, CommandBridgeSettings settings, KafkaSettings kafka, Backoff backoff) {
    this.system = system;
    this.settings = settings;
    this.kafka = kafka;
    this.backoff = backoff;
  }

  static CommandSide launch(ActorSystem<?> system, CommandBridgeSettings settings, KafkaSettings kafka,
      Backoff backoff) {
    CommandSide side = new CommandSide(system, settings, kafka, backoff);
    side.attempt();
    return side;
  }

  private void attempt() {
    if (stopping.get()) {
      return;
    }
    CommandBridge.start(system, settings, kafka).whenComplete((bridge, error) -> {
      if (error == null) {
        running = bridge;
        if (stopping.get()) {
          bridge.stop(); // stop() arrived while this start was under way
        }
        return;
      }
      Duration delay = backoff.delay(attempts++, ThreadLocalRandom.current());
      lastFailure = String.valueOf(error.getCause() != null ? error.getCause().getMessage() : error.getMessage());
      log.warn("Command bridge {} not started ({}); retrying in {} ms (attempt {})", settings.instanceId(),
          lastFailure, delay.toMillis(), attempts);
      system.scheduler().scheduleOnce(delay, this::attempt, system.executionContext());
    });
  }

  /** The {@code commands} part of the process's health. */
  Part health() {
    CommandBridge bridge = running;
    if (bridge == null) {
      return new Part(false, "command bridge not started yet: " + lastFailure, 0);
    }
    CommandBridge.Health h = bridge.health();
    return new Part(h.healthy(), h.detail(), h.pending());
  }

  CompletionStage<Done> stop() {
    stopping.set(true);
    CommandBridge bridge = running;
    return bridge == null ? CompletableFuture.completedFuture(Done.getInstance()) : bridge.stop();
  }

  /** The command bridge's state as {@code GET /health} shows it. */
  record Part(boolean up, String detail, int pending) {
    Map<String, Object> toJson() {
      Map<String, Object> json = new LinkedHashMap<>();
      json.put("status", up ? "up" : "down");
      json.put("detail", detail);
      json.put("pending", pending);
      return json;
    }
  }

  /** Both halves of the bridge process: healthy only when both are. */
  record ProcessHealth(MqttKafkaBridge.Health events, Part commands) implements HealthReport {
    @Override
    public boolean healthy() {
      return events.healthy() && commands.up();
    }

    @Override
    public Map<String, Object> toJson() {
      Map<String, Object> json = new LinkedHashMap<>(events.toJson());
      json.put("status", healthy() ? "healthy" : "degraded");
      json.put("commands", commands.toJson());
      return json;
    }
  }
}
