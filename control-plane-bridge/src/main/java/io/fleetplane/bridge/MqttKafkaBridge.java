package io.fleetplane.bridge;

import akka.Done;
import akka.actor.Cancellable;
import akka.actor.typed.ActorSystem;
import io.fleetplane.config.KafkaSettings;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The device-to-cloud half of the control-plane bridge: every MQTT message on a device-to-cloud
 * topic becomes one Kafka record keyed by its session ({@code fleet/rae/{rae}/device/{session}}),
 * or a dead letter when it is unusable. The contract is docs/protocol.md.
 *
 * <p><b>At-least-once.</b> A QoS 1 message is acknowledged to the broker only after Kafka
 * acknowledged its record (manual acks; idempotent producer, {@code acks=all}). Whatever was not
 * acknowledged when the bridge dies stays in its persistent session and is redelivered.
 *
 * <p><b>Bounded memory, back-pressure.</b> MQTT 5 receive-maximum = {@code max-in-flight}: when
 * Kafka is slow or down, acknowledgements stop, the broker stops sending, and memory stays flat.
 * Health turns degraded when in-flight messages wait longer than {@code kafka-stall-timeout}.
 *
 * <p><b>Supervision.</b> The two sides restart independently with exponential backoff: the MQTT
 * side ({@link MqttInbound}) reconnects, the Kafka side ({@link KafkaForwarder}) restarts its
 * stream and has the broker redeliver what the failed stream held. Nothing needs a manual restart.
 *
 * <p><b>Lifecycle.</b> {@link #launch} (standalone process: keeps retrying until the broker is
 * there) or {@link #start} (embedded in a node: fails if the broker cannot be reached), then
 * {@link #stop} for a graceful stop.
 */
public final class MqttKafkaBridge {

  private static final Logger log = LoggerFactory.getLogger(MqttKafkaBridge.class);
  private static final Duration GAUGE_INTERVAL = Duration.ofSeconds(1);

  private final BridgeSettings settings;
  private final KafkaSettings kafka;
  private final BridgeMetrics metrics = new BridgeMetrics();
  private final KafkaForwarder forwarder;
  private final MqttInbound mqtt;
  private final AtomicBoolean stopping = new AtomicBoolean();
  private final CompletionStage<Done> firstConnection;
  private final Cancellable gaugeTimer;
  private volatile CompletionStage<Done> stopped;

  private MqttKafkaBridge(ActorSystem<?> system, BridgeSettings settings, KafkaSettings kafka,
      boolean failOnFirstAttempt) {
    this.settings = settings;
    this.kafka = kafka;
    this.forwarder = new KafkaForwarder(system, settings, kafka,
        message -> mqttSide().isCurrent(message),
        message -> mqttSide().acknowledge(message),
        () -> mqttSide().requestRedelivery());
    this.mqtt = new MqttInbound(settings, forwarder::offer, forwarder::redeliveryNeeded, failOnFirstAttempt);
    metrics.gauge(BridgeMetrics.IN_FLIGHT, BridgeMetrics.INBOUND, forwarder::inFlight);
    metrics.gauge(BridgeMetrics.KAFKA_STALLED, BridgeMetrics.INBOUND,
        () -> forwarder.status().stalled() ? 1 : 0);
    metrics.gauge(BridgeMetrics.MQTT_CONNECTED, BridgeMetrics.INBOUND, () -> mqtt.isConnected() ? 1 : 0);
    log.info("Bridge {} starting: {}, Kafka {} -> topics {} / {}", settings.instanceId(), settings.mqtt(),
        kafka.bootstrapServers(), kafka.deviceEventsTopic(), kafka.deadLettersTopic());
    forwarder.start();
    this.firstConnection = mqtt.start();
    this.gaugeTimer = system.scheduler().scheduleWithFixedDelay(GAUGE_INTERVAL, GAUGE_INTERVAL,
        metrics::publishGauges, system.executionContext());
  }

  /** The forwarder's callbacks need the MQTT side, which is built after it (they call back later). */
  private MqttInbound mqttSide() {
    return mqtt;
  }

  /**
   * Starts the bridge and keeps it trying: if the broker or Kafka is not there yet, it connects
   * when they come (health says degraded meanwhile). For the standalone process.
   */
  public static MqttKafkaBridge launch(ActorSystem<?> system, BridgeSettings settings, KafkaSettings kafka) {
    return new MqttKafkaBridge(system, settings, kafka, false);
  }

  /**
   * Starts the bridge and completes once it is connected and subscribed; fails (and stops the
   * bridge) if the first connection attempt fails, so a node with a wrong broker address does
   * not come up. After that first connection it reconnects by itself like {@link #launch}.
   */
  public static CompletionStage<MqttKafkaBridge> start(
      ActorSystem<?> system, BridgeSettings settings, KafkaSettings kafka) {
    MqttKafkaBridge bridge = new MqttKafkaBridge(system, settings, kafka, true);
    CompletableFuture<MqttKafkaBridge> result = new CompletableFuture<>();
    bridge.firstConnection.whenComplete((done, error) -> {
      if (error == null) {
        result.complete(bridge);
      } else {
        bridge.stop().whenComplete((d, e) -> result.completeExceptionally(error));
      }
    });
    return result;
  }

  /** Completes when the bridge first connected and subscribed. */
  public CompletionStage<Done> whenConnected() {
    return firstConnection;
  }

  public BridgeSettings settings() {
    return settings;
  }

  /** The bridge's metrics, including its Prometheus text rendering. */
  public BridgeMetrics metrics() {
    return metrics;
  }

  /**
   * The bridge's health: healthy when connected and subscribed to the broker and Kafka is keeping
   * up (not stalled, not restarting).
   *
   * @param inFlight messages received and not yet acknowledged by Kafka
   * @param inFlightHighWaterMark the most that were ever in flight at once
   */
  public record Health(Part mqtt, Part kafka, int inFlight, int maxInFlight, int inFlightHighWaterMark,
      boolean stopping) implements HealthReport {

    /** One side's state and, when it is not up, what is wrong and what to check. */
    public record Part(boolean up, String detail) {}

    @Override
    public boolean healthy() {
      return mqtt.up() && kafka.up();
    }

    public boolean mqttConnected() {
      return mqtt.up();
    }

    public boolean kafkaHealthy() {
      return kafka.up();
    }

    /** "ok", or which part is degraded and why. */
    public String detail() {
      if (healthy()) {
        return "ok";
      }
      StringBuilder b = new StringBuilder();
      if (!mqtt.up()) {
        b.append("mqtt: ").append(mqtt.detail());
      }
      if (!kafka.up()) {
        b.append(b.length() > 0 ? "; " : "").append("kafka: ").append(kafka.detail());
      }
      return b.toString();
    }

    /** The JSON body of {@code GET /health}. */
    @Override
    public Map<String, Object> toJson() {
      Map<String, Object> json = new LinkedHashMap<>();
      json.put("status", healthy() ? "healthy" : "degraded");
      json.put("mqtt", Map.of("status", mqtt.up() ? "up" : "down", "detail", mqtt.detail()));
      json.put("kafka", Map.of("status", kafka.up() ? "up" : "degraded", "detail", kafka.detail()));
      json.put("inFlight", inFlight);
      json.put("maxInFlight", maxInFlight);
      json.put("inFlightHighWaterMark", inFlightHighWaterMark);
      json.put("stopping", stopping);
      return json;
    }
  }

  public Health health() {
    MqttInbound.Status m = mqtt.status();
    KafkaForwarder.Status k = forwarder.status();
    String kafkaDetail;
    if (k.restarting()) {
      kafkaDetail = "producer failed, restarting with backoff: " + k.lastError().orElse("?")
          + " (check fleetplane.kafka.bootstrap-servers and that the topics exist)";
    } else if (k.stalled()) {
      kafkaDetail = "no acknowledgement from Kafka for " + k.waitingFor().toSeconds() + " s with "
          + k.inFlight() + " message(s) in flight; MQTT intake paused by back-pressure"
          + k.lastError().map(e -> " (last error: " + e + ")").orElse("");
    } else if (k.highWaterMark() == 0) {
      // Idle is not degraded (nothing waits), but say that Kafka has not been tried yet.
      kafkaDetail = "ok (idle: no message has needed Kafka yet)";
    } else {
      kafkaDetail = "ok";
    }
    return new Health(new Health.Part(m.connected(), m.detail()), new Health.Part(!k.stalled(), kafkaDetail),
        k.inFlight(), settings.maxInFlight(), k.highWaterMark(), stopping.get());
  }

  /**
   * Graceful stop: stop taking messages from MQTT, let what is in flight reach Kafka and be
   * acknowledged to the broker, then disconnect (session kept). Whatever is still unacknowledged
   * after {@code shutdown-timeout} stays with the broker for the next start: nothing is lost.
   */
  public CompletionStage<Done> stop() {
    if (!stopping.compareAndSet(false, true)) {
      return stopped;
    }
    int inFlight = forwarder.inFlight();
    log.info("Bridge {} stopping: no longer taking MQTT messages, draining {} in-flight message(s) to "
        + "Kafka (up to {})", settings.instanceId(), inFlight, settings.shutdownTimeout());
    mqtt.stopReceiving();
    long timeoutMillis = settings.shutdownTimeout().toMillis();
    stopped = forwarder.complete().toCompletableFuture()
        .thenApply(done -> true)
        .exceptionally(error -> true)
        .completeOnTimeout(false, timeoutMillis, TimeUnit.MILLISECONDS)
        .thenCompose(drained -> {
          int left = forwarder.inFlight();
          if (!drained) {
            forwarder.abort();
            log.warn("Bridge {}: {} message(s) not acknowledged by Kafka within {}; they stay with "
                + "the broker and are redelivered on the next start", settings.instanceId(), left,
                settings.shutdownTimeout());
          }
          return mqtt.disconnect();
        })
        .thenApply(done -> {
          gaugeTimer.cancel();
          metrics.publishGauges();
          log.info("Bridge {} stopped", settings.instanceId());
          return Done.getInstance();
        });
    return stopped;
  }

  @Override
  public String toString() {
    return "MqttKafkaBridge[" + settings.instanceId() + ", " + settings.mqtt().serverUri() + " -> "
        + kafka.bootstrapServers() + "]";
  }
}
