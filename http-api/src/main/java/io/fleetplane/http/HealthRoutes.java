package io.fleetplane.http;

import akka.actor.typed.ActorSystem;
import akka.http.javadsl.model.StatusCodes;
import akka.http.javadsl.server.AllDirectives;
import akka.http.javadsl.server.Route;
import io.fleetplane.bridge.MqttKafkaBridge;
import io.fleetplane.bridge.command.CommandBridge;
import io.fleetplane.persistence.PersistenceSettings;
import io.fleetplane.registry.DeviceEventsIngest;
import java.sql.Connection;
import java.sql.DriverManager;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicReference;

/**
 * {@code /health/live} (the process answers) and {@code /health/ready} (every part this node runs
 * is up: the journal database, the registry's Kafka stream, the bridge's broker and Kafka links).
 * Readiness names the part that is not up, so an operator knows where to look.
 */
final class HealthRoutes extends AllDirectives {

  /** The readiness report: overall, and one line per part. */
  record Readiness(boolean ready, Map<String, String> parts) {}

  private final ActorSystem<?> system;
  private final PersistenceSettings persistence;
  private final Optional<MqttKafkaBridge> bridge;
  private final Optional<CommandBridge> commands;
  private final Optional<DeviceEventsIngest> ingest;
  private final AtomicReference<CachedCheck> database = new AtomicReference<>(new CachedCheck(0, false, "not checked"));

  private record CachedCheck(long atNanos, boolean ok, String detail) {}

  HealthRoutes(ActorSystem<?> system, PersistenceSettings persistence,
      Optional<MqttKafkaBridge> bridge, Optional<CommandBridge> commands, Optional<DeviceEventsIngest> ingest) {
    this.system = system;
    this.persistence = persistence;
    this.bridge = bridge;
    this.commands = commands;
    this.ingest = ingest;
  }

  Route routes() {
    return pathPrefix("health", () -> concat(
        path("live", () -> get(() -> complete(Json.response(StatusCodes.OK, Map.of("status", "live"))))),
        path("ready", () -> get(() -> {
          Readiness readiness = readiness();
          return complete(Json.response(
              readiness.ready() ? StatusCodes.OK : StatusCodes.SERVICE_UNAVAILABLE, readiness));
        }))));
  }

  Readiness readiness() {
    Map<String, String> parts = new LinkedHashMap<>();
    boolean ready = true;
    CachedCheck db = databaseCheck();
    parts.put("database", db.ok() ? "up" : "down: " + db.detail());
    ready &= db.ok();
    if (ingest.isPresent()) {
      boolean stopped = !ingest.get().isRunning();
      parts.put("registry-ingest", stopped ? "down: Kafka consumer not running (restarting with backoff or stopped)" : "up");
      ready &= !stopped;
    }
    if (bridge.isPresent()) {
      MqttKafkaBridge.Health health = bridge.get().health();
      parts.put("bridge", health.healthy() ? "up" : "degraded: " + health.detail());
      ready &= health.healthy();
    }
    if (commands.isPresent()) {
      CommandBridge.Health health = commands.get().health();
      parts.put("command-bridge", health.healthy() ? "up" : "degraded: " + health.detail());
      ready &= health.healthy();
    }
    return new Readiness(ready, parts);
  }

  /** A real round trip to the journal's database, at most once a second. */
  private CachedCheck databaseCheck() {
    CachedCheck last = database.get();
    long now = System.nanoTime();
    if (now - last.atNanos() < 1_000_000_000L && last.atNanos() != 0) {
      return last;
    }
    CachedCheck fresh;
    try (Connection connection = DriverManager.getConnection(persistence.jdbcUrl(), persistence.user(), persistence.password())) {
      fresh = new CachedCheck(now, connection.isValid(2), "connection not valid");
    } catch (Exception e) {
      fresh = new CachedCheck(now, false, e.getMessage());
    }
    database.set(fresh);
    return fresh;
  }
}
