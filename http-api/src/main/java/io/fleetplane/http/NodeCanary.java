package io.fleetplane.http;

import akka.actor.Cancellable;
import akka.actor.typed.ActorSystem;
import akka.actor.typed.Props;
import akka.http.javadsl.model.StatusCodes;
import akka.http.javadsl.server.AllDirectives;
import akka.http.javadsl.server.Route;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValueFactory;
import io.fleetplane.config.ErrorCode;
import io.fleetplane.config.metrics.Metrics;
import io.fleetplane.testkit.canary.Canary;
import io.fleetplane.testkit.canary.CanaryResult;
import io.fleetplane.testkit.canary.CanarySettings;
import io.fleetplane.http.auth.AuthSettings;
import io.fleetplane.http.auth.Caller;
import io.fleetplane.http.auth.Scope;
import io.fleetplane.http.auth.TokenMinter;
import io.fleetplane.testkit.canary.HeartbeatProbe;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The node's own canary ({@code fleetplane.node.canary}): a full canary run every {@code interval}
 * and a heartbeat probe between runs, both off by default. Both run in this node's actor system,
 * against this node's HTTP API and the bridge's broker. Results are kept in memory (the last
 * {@code keep-runs}), served at {@code GET /api/v1/canary/runs} and {@code /heartbeat}, and
 * exported as {@code fleetplane_canary_*} metrics.
 */
final class NodeCanary extends AllDirectives {

  static final String METRIC_RUNS = "fleetplane_canary_runs";
  static final String METRIC_RUNS_SKIPPED = "fleetplane_canary_runs_skipped";
  static final String METRIC_LAST_PASSED = "fleetplane_canary_last_run_passed";
  static final String METRIC_LAST_P99 = "fleetplane_canary_last_run_p99_ms";
  static final String METRIC_LAST_PEAK_LAG = "fleetplane_canary_last_run_peak_lag";
  static final String METRIC_HEARTBEAT_OK = "fleetplane_canary_heartbeat_ok";
  static final String METRIC_HEARTBEAT_LATENCY = "fleetplane_canary_heartbeat_latency_ms";
  static final String METRIC_HEARTBEAT_FAILURES = "fleetplane_canary_heartbeat_failures";

  private static final Logger log = LoggerFactory.getLogger(NodeCanary.class);

  /** {@code GET /api/v1/canary/runs}: newest first. */
  record RunsResponse(boolean scheduled, String interval, boolean running, List<CanaryResult> runs) {}

  private final ActorSystem<?> system;
  private final Config config;
  private final Optional<Duration> interval;
  private final Duration initialDelay;
  private final int keepRuns;
  private final Optional<Duration> heartbeatInterval;
  private final Duration heartbeatTimeout;
  private final Deque<CanaryResult> runs = new ArrayDeque<>(); // guarded by itself
  private final AtomicBoolean running = new AtomicBoolean();
  private final AtomicReference<HeartbeatProbe.Status> heartbeat = new AtomicReference<>();
  private volatile Cancellable schedule;

  NodeCanary(ActorSystem<?> system, Config config) {
    this.system = system;
    this.config = config;
    Config c = config.getConfig("fleetplane.node.canary");
    this.interval = durationOrOff(c, "interval");
    this.initialDelay = durationOrOff(c, "initial-delay").orElse(interval.orElse(Duration.ZERO));
    this.keepRuns = c.getInt("keep-runs");
    this.heartbeatInterval = durationOrOff(c, "heartbeat.interval");
    this.heartbeatTimeout = c.getDuration("heartbeat.timeout");
  }

  /** Starts what is configured, against the HTTP API now bound on {@code httpPort}. */
  void start(int httpPort) {
    CanarySettings settings = settings(httpPort);
    interval.ifPresent(every -> {
      schedule = system.scheduler().scheduleAtFixedRate(initialDelay, every, () -> runOnce(settings),
          system.executionContext());
      log.info("Scheduled canary every {} ({} clients, first in {})", every, settings.clients(), initialDelay);
    });
    heartbeatInterval.ifPresent(every -> {
      system.systemActorOf(HeartbeatProbe.create(new HeartbeatProbe.Settings(settings.mqttUri(), settings.httpUrl(),
          settings.token(), settings.protocol(), every, heartbeatTimeout), this::onHeartbeat), "canary-heartbeat",
          Props.empty());
      log.info("Canary heartbeat probe every {} (broken after {} without the beat visible)", every, heartbeatTimeout);
    });
  }

  void stop() {
    Cancellable s = schedule;
    if (s != null) {
      s.cancel();
    }
  }

  private CanarySettings settings(int httpPort) {
    String mqtt = config.getString("fleetplane.node.canary.mqtt-uri");
    Config c = config.withValue("fleetplane.canary.http-url", ConfigValueFactory.fromAnyRef("http://127.0.0.1:" + httpPort))
        .withValue("fleetplane.canary.mqtt-uri", ConfigValueFactory.fromAnyRef(
            mqtt.isEmpty() ? config.getString("fleetplane.bridge.mqtt.server-uri") : mqtt));
    if (c.getString("fleetplane.canary.token").isBlank()) {
      Optional<String> own = ownToken(config);
      if (own.isPresent()) {
        c = c.withValue("fleetplane.canary.token", ConfigValueFactory.fromAnyRef(own.get()));
      }
    }
    return CanarySettings.fromConfig(c.withFallback(ConfigFactory.defaultReference()));
  }

  /**
   * The node's canary and heartbeat read the node's own API, which wants a token. With an HMAC
   * key the node can sign one itself: devices:read only, for the node's lifetime (a year), so no
   * operator has to hand the node a credential. With RSA/JWKS verification the node holds no
   * private key; then fleetplane.canary.token must be configured.
   */
  private static Optional<String> ownToken(Config config) {
    AuthSettings auth = AuthSettings.fromConfig(config);
    try {
      return auth.hmacKey().map(key -> TokenMinter.hmac(key).mint(new TokenMinter.Grant("fleetplane-node-canary",
          java.util.List.of(Scope.DEVICES_READ), java.util.List.of(Caller.ALL_RAES), Duration.ofDays(365),
          auth.issuer(), auth.audience())));
    } catch (java.io.IOException e) {
      log.warn("Canary: cannot read the HMAC key to sign its own token ({}); set fleetplane.canary.token", e.toString());
      return Optional.empty();
    }
  }

  private void runOnce(CanarySettings settings) {
    if (!running.compareAndSet(false, true)) {
      Metrics.increment(METRIC_RUNS_SKIPPED);
      log.warn("Scheduled canary skipped: the previous run is still going");
      return;
    }
    Canary.run(system, settings, p -> log.debug("Canary: {}", p.line())).whenComplete((result, error) -> {
      running.set(false);
      if (error != null) {
        Metrics.increment(METRIC_RUNS, Map.of("verdict", "error"));
        log.error("Scheduled canary could not run", error);
        return;
      }
      record(result);
    });
  }

  void record(CanaryResult result) {
    synchronized (runs) {
      runs.addFirst(result);
      while (runs.size() > keepRuns) {
        runs.removeLast();
      }
    }
    Metrics.increment(METRIC_RUNS, Map.of("verdict", result.passed() ? "pass" : "fail"));
    Metrics.gauge(METRIC_LAST_PASSED, Map.of(), result.passed() ? 1 : 0);
    if (result.latency().p99Millis() != null) {
      Metrics.gauge(METRIC_LAST_P99, Map.of(), result.latency().p99Millis());
    }
    if (result.lag().peak() != null) {
      Metrics.gauge(METRIC_LAST_PEAK_LAG, Map.of(), result.lag().peak());
    }
    log.info("Scheduled canary {}:\n{}", result.passed() ? "passed" : "FAILED", result.table());
  }

  private void onHeartbeat(HeartbeatProbe.Status status) {
    HeartbeatProbe.Status previous = heartbeat.getAndSet(status);
    Metrics.gauge(METRIC_HEARTBEAT_OK, Map.of(), status.broken() ? 0 : 1);
    if (status.lastLatencyMillis() != null) {
      Metrics.gauge(METRIC_HEARTBEAT_LATENCY, Map.of(), status.lastLatencyMillis());
    }
    if (status.broken() && (previous == null || previous.consecutiveFailures() < status.consecutiveFailures())) {
      Metrics.increment(METRIC_HEARTBEAT_FAILURES);
    }
  }

  /** Routes relative to {@code /api/v1}. */
  Route routes() {
    return pathPrefix("canary", () -> concat(
        path("runs", () -> get(() -> {
          List<CanaryResult> snapshot;
          synchronized (runs) {
            snapshot = new ArrayList<>(runs);
          }
          return complete(Json.response(StatusCodes.OK, new RunsResponse(interval.isPresent(),
              interval.map(Duration::toString).orElse(null), running.get(), snapshot)));
        })),
        path("heartbeat", () -> get(() -> {
          HeartbeatProbe.Status status = heartbeat.get();
          if (heartbeatInterval.isEmpty() || status == null) {
            return complete(Problem.of(StatusCodes.NOT_FOUND, ErrorCode.ROUTE_NOT_FOUND,
                "The heartbeat probe is off on this node (fleetplane.node.canary.heartbeat.interval).").toResponse());
          }
          return complete(Json.response(status.broken() ? StatusCodes.SERVICE_UNAVAILABLE : StatusCodes.OK, status));
        }))));
  }

  private static Optional<Duration> durationOrOff(Config c, String key) {
    String text = c.getString(key).trim();
    return text.equals("off") || text.isEmpty() ? Optional.empty() : Optional.of(c.getDuration(key));
  }
}
