package io.fleetplane.testkit.canary;

import akka.actor.typed.ActorRef;
import akka.actor.typed.Behavior;
import akka.actor.typed.SupervisorStrategy;
import akka.actor.typed.javadsl.ActorContext;
import akka.actor.typed.javadsl.Behaviors;
import akka.actor.typed.javadsl.TimerScheduler;
import io.fleetplane.config.ids.DeviceSessionId;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalDouble;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.function.Consumer;
import java.util.function.Predicate;

/**
 * Runs one canary: spawns one {@link CanaryDevice} per simulated client, ramps their connections
 * (all at once or at a rate), follows the node's metrics (consumer lag, bridge and registry
 * throughput) while they publish and verify, and, once every session is resolved and the lag is
 * back to zero (or the drain timeout passed), turns what it saw into a {@link CanaryResult}.
 *
 * <p>Sessions are checked over HTTP when the node's counters say their messages went through:
 * a device that finished publishing waits until the registry has processed as many records since
 * the run began as the run had acknowledged when that device finished (the pipeline is close to
 * first in, first out), then polls until it sees its final state. Where the node's metrics cannot
 * be read, or the count stops growing for {@link #STALLED_AFTER_SECONDS} s (a node that does not
 * count processed records at all), waiting devices check at once, so a broken pipeline is still
 * judged by what HTTP shows.
 *
 * <p>Device actors are its children: a device that fails unexpectedly is stopped (its MQTT
 * client closed in PostStop) and counted, through death watch, as a session the run could not
 * verify; the run goes on. Stopping the coordinator stops every device.
 */
final class CanaryCoordinator {

  sealed interface Command {}

  private record FromDevice(CanaryDevice.Report report) implements Command {}

  private record DeviceStopped(int device) implements Command {}

  private record RampTick() implements Command {}

  private record SampleTick() implements Command {}

  private record Scraped(String text, String error) implements Command {}

  private record RunTimedOut() implements Command {}

  static final String BRIDGE_FORWARDED = "fleetplane_bridge_messages_forwarded";
  static final String REGISTRY_PROCESSED = "fleetplane_registry_records_processed";
  static final String LAG = "fleetplane_registry_consumer_lag_sum";
  private static final Duration RAMP_TICK = Duration.ofMillis(100);
  /** Longer than a few of the node's metric ticks (Kamon's is 5 s), so a slow tick is not a stall. */
  static final double STALLED_AFTER_SECONDS = 15;

  private enum DeviceState { PENDING, CONNECTING, CONNECTED, RESOLVED }

  private final String runId;
  private final CanarySettings settings;
  private final CanaryHttp http;
  /** Metrics on a connection of their own, so sessions' checks never delay the lag readings. */
  private final CanaryHttp metricsHttp;
  private final Consumer<CanaryProgress> progress;
  private final CompletableFuture<CanaryResult> done;
  private final ActorContext<Command> context;
  private final TimerScheduler<Command> timers;
  private final List<ActorRef<CanaryDevice.Command>> devices = new ArrayList<>();
  private final DeviceState[] states;
  private final long startNanos = System.nanoTime();
  private final Instant startedAt = Instant.now();

  private int started;
  private int connected;
  private int connectFailed;
  private final Map<String, Integer> connectReasons = new TreeMap<>();
  private long acked;
  private long publishFailed;
  private final Map<String, Integer> publishReasons = new TreeMap<>();
  private int verified;
  private int unverified;
  private final Map<String, Integer> unverifiedReasons = new TreeMap<>();
  private long visibleMessages;
  private final List<Long> latencies = new ArrayList<>();
  private int resolved;
  /** A device done publishing, waiting to check; the run had acknowledged this many messages then. */
  private record AwaitingCheck(int device, long ackedWhenDone) {}

  private final ArrayDeque<AwaitingCheck> awaitingCheck = new ArrayDeque<>();
  /** Registry records processed since the run began, as of the last scrape; null: metrics unreadable. */
  private Long processedSinceStart;
  private double processedGrewAtSeconds;

  private boolean scraping;
  private String baseline;
  private String latest;
  private double lastSampleSeconds;
  private long lastSampleAcked;
  private double lastSampleProcessed = Double.NaN;
  private final List<CanaryResult.Sample> samples = new ArrayList<>();
  private Long peakLag;
  private double peakAtSeconds;
  private Double backToZeroSeconds;
  private double allResolvedAtSeconds = Double.NaN;

  private CanaryCoordinator(String runId, CanarySettings settings, CanaryMqtt mqtt, CanaryHttp http,
      Consumer<CanaryProgress> progress, CompletableFuture<CanaryResult> done, ActorContext<Command> context,
      TimerScheduler<Command> timers) {
    this.runId = runId;
    this.settings = settings;
    this.http = http;
    this.metricsHttp = new CanaryHttp(context.getSystem(), settings.httpUrl(), settings.token(), 1);
    this.progress = progress;
    this.done = done;
    this.context = context;
    this.timers = timers;
    this.states = new DeviceState[settings.clients()];
    ActorRef<CanaryDevice.Report> reports = context.messageAdapter(CanaryDevice.Report.class, FromDevice::new);
    for (int i = 0; i < settings.clients(); i++) {
      states[i] = DeviceState.PENDING;
      // A device that throws is stopped, not restarted: a restarted device would have lost what it
      // published, so its session could not be verified honestly. Death watch counts it.
      ActorRef<CanaryDevice.Command> device = context.spawn(
          Behaviors.supervise(CanaryDevice.create(i, runId, DeviceSessionId.random(), settings, mqtt, http, reports))
              .onFailure(SupervisorStrategy.stop()), "device-" + i);
      context.watchWith(device, new DeviceStopped(i));
      devices.add(device);
    }
  }

  static Behavior<Command> create(String runId, CanarySettings settings, CanaryMqtt mqtt, CanaryHttp http,
      Consumer<CanaryProgress> progress, CompletableFuture<CanaryResult> done) {
    return Behaviors.withMdc(Command.class, Map.of("canaryRun", runId), Behaviors.setup(context ->
        Behaviors.withTimers(timers ->
            new CanaryCoordinator(runId, settings, mqtt, http, progress, done, context, timers).starting())));
  }

  /** Reads the node's metrics once before any device connects: the run's figures are deltas. */
  private Behavior<Command> starting() {
    context.getLog().info("Canary run {}: {} clients against {} (MQTT {}), node {}", runId, settings.clients(),
        settings.mqttUri(), settings.protocol(), settings.httpUrl());
    scrape();
    timers.startSingleTimer(new RunTimedOut(), settings.runTimeout());
    return Behaviors.receive(Command.class)
        .onMessage(Scraped.class, s -> {
          scraping = false;
          baseline = s.text() == null ? "" : s.text();
          latest = baseline;
          updateProcessedSinceStart();
          if (s.error() != null) {
            context.getLog().warn("Canary run {}: node metrics unavailable ({}); lag and pipeline stages will not be judged",
                runId, s.error());
          }
          timers.startTimerAtFixedRate(new SampleTick(), settings.sampleInterval());
          if (settings.rampPerSecond() == 0) {
            connectUpTo(settings.clients());
          } else {
            timers.startTimerAtFixedRate(new RampTick(), RAMP_TICK);
          }
          return running();
        })
        .onMessage(RunTimedOut.class, t -> finish("the run timed out before it started"))
        .onMessage(DeviceStopped.class, d -> {
          resolve(d.device(), "device actor stopped before the run started");
          return Behaviors.same();
        })
        .build();
  }

  private Behavior<Command> running() {
    return Behaviors.receive(Command.class)
        .onMessage(RampTick.class, t -> {
          connectUpTo((int) Math.min(settings.clients(), Math.ceil(seconds() * settings.rampPerSecond())));
          if (started >= settings.clients()) {
            timers.cancel(new RampTick());
          }
          return Behaviors.same();
        })
        .onMessage(SampleTick.class, t -> {
          if (!scraping) {
            scrape();
          }
          return Behaviors.same();
        })
        .onMessage(Scraped.class, this::onScraped)
        .onMessage(FromDevice.class, f -> onReport(f.report()))
        .onMessage(DeviceStopped.class, d -> {
          resolve(d.device(), "device actor failed");
          return checkDone();
        })
        .onMessage(RunTimedOut.class, t -> finish("run timed out after " + settings.runTimeout().toSeconds() + " s"))
        .build();
  }

  private void connectUpTo(int target) {
    while (started < target) {
      states[started] = DeviceState.CONNECTING;
      devices.get(started).tell(new CanaryDevice.Connect());
      started++;
    }
  }

  private Behavior<Command> onReport(CanaryDevice.Report report) {
    int i = report.device();
    if (report instanceof CanaryDevice.ReportConnected) {
      connected++;
      states[i] = DeviceState.CONNECTED;
    } else if (report instanceof CanaryDevice.ReportConnectFailed f) {
      connectFailed++;
      connectReasons.merge(f.reason(), 1, Integer::sum);
      markResolved(i);
    } else if (report instanceof CanaryDevice.ReportAcked) {
      acked++;
    } else if (report instanceof CanaryDevice.ReportPublishFailed f) {
      publishFailed++;
      publishReasons.merge(f.reason(), 1, Integer::sum);
    } else if (report instanceof CanaryDevice.ReportAwaitingCheck) {
      awaitingCheck.add(new AwaitingCheck(i, acked));
      releaseChecks();
    } else if (report instanceof CanaryDevice.ReportVerified v && markResolved(i)) {
      verified++;
      latencies.add(v.latencyMillis());
      visibleMessages += v.visibleMessages();
    } else if (report instanceof CanaryDevice.ReportUnverified u && markResolved(i)) {
      unverified++;
      unverifiedReasons.merge(u.reason(), 1, Integer::sum);
      visibleMessages += u.visibleMessages();
    }
    return checkDone();
  }

  /**
   * Tells the waiting devices whose messages the registry has probably processed to check now;
   * all of them when the node's metrics cannot be read or the count stalled.
   */
  private void releaseChecks() {
    if (processedSinceStart == null || seconds() - processedGrewAtSeconds > STALLED_AFTER_SECONDS) {
      releaseWhile(waiting -> true);
    } else {
      long processed = processedSinceStart;
      releaseWhile(waiting -> waiting.ackedWhenDone() <= processed);
    }
  }

  /**
   * Once per scrape, not per waiting device (parsing the metrics text per device cost the canary
   * real CPU). A counter the node has not exported yet counts as zero (a fresh node shows it only
   * after its first record); one it never exports stalls, and the stall releases every device.
   */
  private void updateProcessedSinceStart() {
    Long processed = delta(REGISTRY_PROCESSED, Map.of());
    if (processed == null || processedSinceStart == null || processed > processedSinceStart) {
      processedSinceStart = processed;
      processedGrewAtSeconds = seconds();
    }
  }

  private void releaseWhile(Predicate<AwaitingCheck> due) {
    while (!awaitingCheck.isEmpty() && due.test(awaitingCheck.peekFirst())) {
      devices.get(awaitingCheck.pollFirst().device()).tell(new CanaryDevice.CheckNow());
    }
  }

  /** A device stopped without a verdict of its own (it failed): its session counts as unverified. */
  private void resolve(int device, String reason) {
    if (markResolved(device)) {
      unverified++;
      unverifiedReasons.merge(reason, 1, Integer::sum);
    }
  }

  private boolean markResolved(int device) {
    if (states[device] == DeviceState.RESOLVED) {
      return false;
    }
    states[device] = DeviceState.RESOLVED;
    resolved++;
    return true;
  }

  /** Every session resolved: wait for the consumer lag to read zero, then finish. */
  private Behavior<Command> checkDone() {
    if (resolved < settings.clients()) {
      return Behaviors.same();
    }
    if (Double.isNaN(allResolvedAtSeconds)) {
      allResolvedAtSeconds = seconds();
      context.getLog().info("Canary run {}: every session resolved after {} s; waiting for the lag to drain",
          runId, Math.round(allResolvedAtSeconds));
    }
    if (lagSettled()) {
      return finish(null);
    }
    if (seconds() - allResolvedAtSeconds > settings.lagDrainTimeout().toSeconds()) {
      return finish(null);
    }
    return Behaviors.same();
  }

  /** No lag metric at all (nothing to wait for), or a reading of zero taken after resolution. */
  private boolean lagSettled() {
    OptionalDouble lag = PrometheusText.sum(latest, LAG);
    return lag.isEmpty() || (lag.getAsDouble() == 0 && lastSampleSeconds >= allResolvedAtSeconds);
  }

  private void scrape() {
    scraping = true;
    metricsHttp.metrics().whenComplete((text, error) -> context.getSelf().tell(error == null
        ? new Scraped(text, null) : new Scraped(null, CanaryDevice.reason(error))));
  }

  private Behavior<Command> onScraped(Scraped s) {
    scraping = false;
    double now = seconds();
    if (s.text() != null) {
      latest = s.text();
    }
    OptionalDouble lag = s.text() == null ? OptionalDouble.empty() : PrometheusText.sum(s.text(), LAG);
    OptionalDouble processed = s.text() == null ? OptionalDouble.empty() : PrometheusText.sum(s.text(), REGISTRY_PROCESSED);
    double dt = Math.max(1e-3, now - lastSampleSeconds);
    Double processedRate = processed.isPresent() && !Double.isNaN(lastSampleProcessed)
        ? Math.max(0, (processed.getAsDouble() - lastSampleProcessed) / dt) : null;
    if (processed.isPresent()) {
      lastSampleProcessed = processed.getAsDouble();
    } else if (Double.isNaN(lastSampleProcessed)) {
      lastSampleProcessed = PrometheusText.sum(baseline, REGISTRY_PROCESSED).orElse(Double.NaN);
    }
    Double lagValue = lag.isPresent() ? lag.getAsDouble() : null;
    if (lagValue != null) {
      long l = lagValue.longValue();
      if (peakLag == null || l > peakLag) {
        peakLag = l;
        peakAtSeconds = now;
        backToZeroSeconds = null;
      }
      if (l == 0 && backToZeroSeconds == null && peakLag > 0) {
        backToZeroSeconds = now - peakAtSeconds;
      }
    }
    updateProcessedSinceStart();
    releaseChecks();
    samples.add(new CanaryResult.Sample(round(now), connected, acked, verified, lagValue,
        round((acked - lastSampleAcked) / dt), processedRate == null ? null : round(processedRate)));
    lastSampleSeconds = now;
    lastSampleAcked = acked;
    try {
      progress.accept(new CanaryProgress(round(now), settings.clients(), connected, connectFailed, acked,
          (long) settings.clients() * settings.messagesPerSession(), verified, unverified, lagValue));
    } catch (RuntimeException e) {
      context.getLog().warn("Canary run {}: progress listener failed: {}", runId, e.toString());
    }
    return checkDone();
  }

  private Behavior<Command> finish(String cutShort) {
    if (cutShort != null) {
      for (int i = 0; i < states.length; i++) {
        if (states[i] != DeviceState.RESOLVED) {
          states[i] = DeviceState.RESOLVED;
          resolved++;
          unverified++;
          unverifiedReasons.merge(cutShort, 1, Integer::sum);
        }
      }
    }
    CanaryResult result = result();
    context.getLog().info("Canary run {} {}: {} of {} sessions verified", runId, result.passed() ? "passed" : "FAILED",
        verified, settings.clients());
    done.complete(result);
    // Stopping stops every device; their PostStop closes the MQTT clients still open.
    return Behaviors.stopped();
  }

  private CanaryResult result() {
    List<Long> sorted = new ArrayList<>(latencies);
    sorted.sort(Long::compare);
    CanaryResult.Latency latency = sorted.isEmpty() ? new CanaryResult.Latency(0, null, null, null, null)
        : new CanaryResult.Latency(sorted.size(), percentile(sorted, 50), percentile(sorted, 95),
            percentile(sorted, 99), (double) sorted.get(sorted.size() - 1));
    boolean lagBack = peakLag == null || peakLag == 0 || backToZeroSeconds != null;
    CanaryResult.Lag lag = new CanaryResult.Lag(LAG, peakLag, peakLag != null && peakLag == 0 ? Double.valueOf(0)
        : backToZeroSeconds == null ? null : round(backToZeroSeconds), lagBack);

    List<CanaryResult.Stage> pipeline = List.of(
        new CanaryResult.Stage("acknowledged by the MQTT broker", acked),
        new CanaryResult.Stage("forwarded to Kafka by the bridge", delta(BRIDGE_FORWARDED, Map.of("direction", "device-to-cloud"))),
        new CanaryResult.Stage("processed by the registry", delta(REGISTRY_PROCESSED, Map.of())),
        new CanaryResult.Stage("visible over HTTP", visibleMessages));

    List<String> failures = new ArrayList<>();
    CanarySettings.Thresholds t = settings.thresholds();
    if (connectFailed > t.maxFailedConnections()) {
      failures.add(connectFailed + " connections failed (at most " + t.maxFailedConnections() + " allowed)");
    }
    if (unverified > t.maxUnverifiedSessions()) {
      failures.add(unverified + " sessions did not show their final state over HTTP (at most "
          + t.maxUnverifiedSessions() + " allowed)");
    }
    if (publishFailed > 0) {
      failures.add(publishFailed + " publishes were not acknowledged by the broker");
    }
    if (latency.p99Millis() != null && latency.p99Millis() > t.maxP99Latency().toMillis()) {
      failures.add(String.format(java.util.Locale.ROOT, "p99 publish -> visible latency %.0f ms exceeds %d ms",
          latency.p99Millis(), t.maxP99Latency().toMillis()));
    }
    if (!lagBack) {
      failures.add("registry consumer lag (peak " + peakLag + ") was not back to zero "
          + settings.lagDrainTimeout().toSeconds() + " s after the last session resolved");
    }
    if (verified == 0) {
      failures.add("no session was verified");
    }

    CanaryResult.Shape shape = new CanaryResult.Shape(settings.clients(), settings.rampPerSecond(),
        settings.messagesPerClient(), settings.messagesPerSession(), settings.payloadBytes(),
        settings.publishInterval().toMillis(),
        settings.protocol() == io.fleetplane.testkit.device.MqttProtocol.MQTT_5 ? "5" : "3.1.1",
        settings.mqttUri(), settings.httpUrl());
    return new CanaryResult(runId, startedAt.toString(), Instant.now().toString(), round(seconds()), failures.isEmpty(),
        failures, diagnosis(pipeline), shape,
        new CanaryResult.Connections(started, connected, connectFailed, connectReasons),
        new CanaryResult.Messages(acked + publishFailed, acked, publishFailed, publishReasons, verified, unverified,
            unverifiedReasons, http.deviceReads()),
        latency, lag, pipeline, samples);
  }

  /**
   * Where messages stopped: the furthest stage that saw all acknowledged messages, and the next.
   * Counters of parts that run elsewhere (a separate bridge) read zero here, so the search goes
   * backwards from HTTP rather than forwards from MQTT.
   */
  static String diagnosis(List<CanaryResult.Stage> pipeline) {
    long acknowledged = pipeline.get(0).messages();
    CanaryResult.Stage last = pipeline.get(pipeline.size() - 1);
    if (acknowledged == 0 || (last.messages() != null && last.messages() >= acknowledged)) {
      return null;
    }
    for (int i = pipeline.size() - 2; i >= 0; i--) {
      Long reached = pipeline.get(i).messages();
      if (reached != null && reached >= acknowledged) {
        CanaryResult.Stage next = pipeline.get(i + 1);
        return "messages stopped after '" + pipeline.get(i).stage() + "' (" + reached + " counted for "
            + acknowledged + " acknowledged; node-wide counters include other traffic): only "
            + (next.messages() == null ? "?" : next.messages()) + " " + next.stage();
      }
    }
    return "messages stopped before every stage could see them all";
  }

  /** How much a counter grew since the run started; zero when the node never counted it. */
  private Long delta(String name, Map<String, String> labels) {
    if (latest == null || latest.isEmpty()) {
      return null; // the node's metrics could not be read at all
    }
    double now = PrometheusText.sum(latest, name, labels).orElse(0);
    double before = PrometheusText.sum(baseline, name, labels).orElse(0);
    return Math.max(0, Math.round(now - before));
  }

  private static double percentile(List<Long> sorted, int p) {
    int rank = (int) Math.ceil(p / 100.0 * sorted.size()) - 1;
    return sorted.get(Math.max(0, Math.min(sorted.size() - 1, rank)));
  }

  private double seconds() {
    return (System.nanoTime() - startNanos) / 1e9;
  }

  private static double round(double v) {
    return Math.round(v * 10) / 10.0;
  }
}
