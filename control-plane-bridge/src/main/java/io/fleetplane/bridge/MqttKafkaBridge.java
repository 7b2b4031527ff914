package io.fleetplane.bridge;

import akka.Done;
import akka.NotUsed;
import akka.actor.typed.ActorSystem;
import akka.kafka.ProducerMessage;
import akka.kafka.ProducerSettings;
import akka.kafka.javadsl.Producer;
import akka.stream.BoundedSourceQueue;
import akka.stream.QueueOfferResult;
import akka.stream.RestartSettings;
import akka.stream.javadsl.RestartSource;
import akka.stream.javadsl.Sink;
import akka.stream.javadsl.Source;
import io.fleetplane.bridge.domain.InboundRouting;
import io.fleetplane.bridge.domain.InboundRouting.Route;
import io.fleetplane.bridge.domain.InboundRouting.ToDeadLetters;
import io.fleetplane.bridge.domain.InboundRouting.ToDeviceEvents;
import io.fleetplane.config.KafkaHeaders;
import io.fleetplane.config.KafkaSettings;
import io.fleetplane.config.LogIds;
import io.fleetplane.config.metrics.Metrics;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.eclipse.paho.mqttv5.client.IMqttToken;
import org.eclipse.paho.mqttv5.client.MqttAsyncClient;
import org.eclipse.paho.mqttv5.client.MqttCallback;
import org.eclipse.paho.mqttv5.client.MqttConnectionOptions;
import org.eclipse.paho.mqttv5.client.MqttDisconnectResponse;
import org.eclipse.paho.mqttv5.client.persist.MemoryPersistence;
import org.eclipse.paho.mqttv5.common.MqttException;
import org.eclipse.paho.mqttv5.common.MqttMessage;
import org.eclipse.paho.mqttv5.common.MqttSubscription;
import org.eclipse.paho.mqttv5.common.packet.MqttProperties;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;

/**
 * The device-to-cloud half of the control-plane bridge: every MQTT message on a device topic
 * becomes one Kafka record keyed by its session ({@code fleet/rae/{rae}/device/{session}}), or a
 * dead letter when it is unusable.
 *
 * <p><b>At-least-once.</b> The client acknowledges a QoS 1 message to the broker only after
 * Kafka acknowledged the record (manual acks, idempotent producer with {@code acks=all}). What was
 * not acknowledged when the bridge dies is redelivered by the broker from the persistent session.
 *
 * <p><b>Bounded memory.</b> MQTT 5's receive-maximum tells the broker to keep at most
 * {@code maxInFlight} unacknowledged messages in flight to us, and the stream's queue holds
 * exactly that many: when Kafka is slow, acknowledgements stop, the broker stops sending, and
 * nothing grows. A message that still finds the queue full (only while the stream restarts) is
 * left unacknowledged and the bridge reconnects so that the broker sends it again.
 *
 * <p><b>Supervision.</b> The Kafka side restarts with exponential backoff on failure; the MQTT
 * side reconnects by itself (Paho automatic reconnect) and re-subscribes on every connect.
 */
public final class MqttKafkaBridge {

  private static final Logger log = LoggerFactory.getLogger(MqttKafkaBridge.class);

  public static final String METRIC_IN = "fleetplane_bridge_messages_in";
  public static final String METRIC_FORWARDED = "fleetplane_bridge_messages_forwarded";
  public static final String METRIC_DEAD_LETTERS = "fleetplane_bridge_dead_letters";
  public static final String METRIC_REDELIVERY_REQUESTS = "fleetplane_bridge_redelivery_requests";

  private final BridgeSettings settings;
  private final KafkaSettings kafka;
  private final ActorSystem<?> system;
  private final InboundRouting routing;
  private final RateLimitedLog deadLetterLog = new RateLimitedLog(log, Duration.ofSeconds(10));

  private final AtomicReference<BoundedSourceQueue<InboundMessage>> queue = new AtomicReference<>();
  private final AtomicInteger inFlight = new AtomicInteger();
  private final AtomicBoolean mqttConnected = new AtomicBoolean();
  private final AtomicBoolean kafkaHealthy = new AtomicBoolean(true);
  private final AtomicBoolean redeliveryScheduled = new AtomicBoolean();
  private final AtomicBoolean stopping = new AtomicBoolean();
  private final AtomicReference<String> lastKafkaError = new AtomicReference<>();
  private final AtomicInteger streamGeneration = new AtomicInteger();

  private MqttAsyncClient client;
  private MqttConnectionOptions connectionOptions;
  private CompletionStage<Done> streamDone;

  private MqttKafkaBridge(ActorSystem<?> system, BridgeSettings settings, KafkaSettings kafka) {
    this.system = system;
    this.settings = settings;
    this.kafka = kafka;
    this.routing = new InboundRouting(settings.maxPayloadBytes());
  }

  /**
   * Starts the Kafka stream, then connects to the broker and subscribes. Completes when the first
   * connection is established, or fails with the broker's error.
   */
  public static CompletionStage<MqttKafkaBridge> start(
      ActorSystem<?> system, BridgeSettings settings, KafkaSettings kafka) {
    MqttKafkaBridge bridge = new MqttKafkaBridge(system, settings, kafka);
    bridge.startStream();
    return bridge.connect().thenApply(done -> bridge);
  }

  /** What the health endpoint reports about the bridge. */
  public record Health(boolean mqttConnected, boolean kafkaHealthy, int inFlight, String detail) {
    public boolean healthy() {
      return mqttConnected && kafkaHealthy;
    }
  }

  public Health health() {
    String detail = !mqttConnected.get() ? "not connected to MQTT broker " + settings.mqttServerUri()
        : !kafkaHealthy.get() ? "Kafka producer failing: " + lastKafkaError.get()
        : "ok";
    return new Health(mqttConnected.get(), kafkaHealthy.get(), inFlight.get(), detail);
  }

  /**
   * Graceful stop: stop taking messages from MQTT, let what is in flight reach Kafka and be
   * acknowledged to the broker, then disconnect. Anything not acknowledged by then stays with
   * the broker for the next bridge.
   */
  public CompletionStage<Done> stop() {
    if (!stopping.compareAndSet(false, true)) {
      return streamDone;
    }
    log.info("Bridge {} stopping: unsubscribing, draining {} in-flight message(s)",
        settings.instanceId(), inFlight.get());
    try {
      if (client.isConnected()) {
        client.unsubscribe(settings.effectiveSubscription()).waitForCompletion(5_000);
      }
    } catch (MqttException e) {
      log.warn("Bridge {}: unsubscribe failed ({}); draining anyway", settings.instanceId(), e.toString());
    }
    BoundedSourceQueue<InboundMessage> current = queue.get();
    if (current != null) {
      current.complete();
    }
    return streamDone
        .toCompletableFuture()
        .completeOnTimeout(Done.getInstance(), settings.shutdownTimeout().toMillis(),
            java.util.concurrent.TimeUnit.MILLISECONDS)
        .handle((done, error) -> {
          closeClient();
          log.info("Bridge {} stopped ({} message(s) left unacknowledged with the broker)",
              settings.instanceId(), inFlight.get());
          return Done.getInstance();
        });
  }

  // ---------------------------------------------------------------------------------------------
  // Kafka side

  private void startStream() {
    ProducerSettings<String, byte[]> producerSettings =
        ProducerSettings.create(system, new StringSerializer(), new ByteArraySerializer())
            .withBootstrapServers(kafka.bootstrapServers())
            .withProperties(kafka.clientProperties())
            .withProperty(ProducerConfig.ACKS_CONFIG, "all")
            .withProperty(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true")
            .withProperty(ProducerConfig.LINGER_MS_CONFIG, "2")
            .withProperty(ProducerConfig.CLIENT_ID_CONFIG, "fleetplane-bridge-" + settings.instanceId());

    RestartSettings restart = RestartSettings.create(settings.minBackoff(), settings.maxBackoff(), 0.2);
    streamDone = RestartSource.onFailuresWithBackoff(restart, () -> {
          int generation = streamGeneration.incrementAndGet();
          return Source.<InboundMessage>queue(settings.maxInFlight())
              .mapMaterializedValue(q -> {
                queue.set(q);
                if (generation > 1) {
                  log.warn("Bridge {}: Kafka stream restarted (generation {}); asking the broker "
                      + "to redeliver what was in flight", settings.instanceId(), generation);
                  requestRedelivery();
                }
                return NotUsed.getInstance();
              })
              .map(this::toEnvelope)
              .via(Producer.flexiFlow(producerSettings))
              .map(result -> {
                acknowledge(result.passThrough());
                kafkaHealthy.set(true);
                return Done.getInstance();
              })
              .watchTermination((mat, done) -> {
                done.whenComplete((d, error) -> {
                  if (error != null) {
                    kafkaHealthy.set(false);
                    lastKafkaError.set(error.toString());
                    log.error("Bridge {}: Kafka stream failed, restarting with backoff: {}",
                        settings.instanceId(), error.toString());
                  }
                });
                return mat;
              });
        })
        .runWith(Sink.ignore(), system);
  }

  private ProducerMessage.Envelope<String, byte[], InboundMessage> toEnvelope(InboundMessage in) {
    Route route = routing.route(in.topic(), in.payload());
    List<Header> headers = List.of(
        header(KafkaHeaders.MQTT_TOPIC, in.topic()),
        header(KafkaHeaders.MQTT_QOS, Integer.toString(in.qos())),
        header(KafkaHeaders.RECEIVED_AT, Long.toString(in.receivedAtMillis())),
        header(KafkaHeaders.BRIDGE_INSTANCE, settings.instanceId()));
    if (route instanceof ToDeviceEvents device) {
      Metrics.increment(METRIC_FORWARDED, Map.of("channel", device.topic().channel().topicLevel()));
      return ProducerMessage.single(new ProducerRecord<>(
          kafka.deviceEventsTopic(), null, device.topic().sessionKey(), in.payload(), headers), in);
    }
    ToDeadLetters dead = (ToDeadLetters) route;
    Metrics.increment(METRIC_DEAD_LETTERS, Map.of("reason", dead.reason().code()));
    deadLetterLog.warn(dead.reason().code(), "Dead-lettering MQTT message on topic '{}': {} ({})",
        printableTopic(in.topic()), dead.reason().code(), dead.detail());
    List<Header> deadHeaders = new java.util.ArrayList<>(headers);
    deadHeaders.add(header(KafkaHeaders.ERROR_CODE, dead.reason().code()));
    deadHeaders.add(header(KafkaHeaders.ERROR_DETAIL, dead.detail()));
    deadHeaders.add(header(KafkaHeaders.REJECTED_BY, "bridge"));
    return ProducerMessage.single(new ProducerRecord<>(
        kafka.deadLettersTopic(), null, printableTopic(in.topic()), in.payload(), deadHeaders), in);
  }

  private static Header header(String key, String value) {
    return new RecordHeader(key, value.getBytes(StandardCharsets.UTF_8));
  }

  private static String printableTopic(String topic) {
    return topic.length() > 256 ? topic.substring(0, 256) + "..." : topic;
  }

  // ---------------------------------------------------------------------------------------------
  // MQTT side

  private CompletionStage<Done> connect() {
    try {
      client = new MqttAsyncClient(settings.mqttServerUri(), settings.clientId(), new MemoryPersistence());
      client.setManualAcks(true);
      client.setCallback(new Callback());
      connectionOptions = new MqttConnectionOptions();
      connectionOptions.setCleanStart(false);
      connectionOptions.setSessionExpiryInterval(settings.sessionExpiry().toSeconds());
      connectionOptions.setReceiveMaximum(settings.maxInFlight());
      connectionOptions.setAutomaticReconnect(true);
      connectionOptions.setAutomaticReconnectDelay(
          (int) Math.max(1, settings.minBackoff().toSeconds()),
          (int) Math.max(1, settings.maxBackoff().toSeconds()));
      connectionOptions.setKeepAliveInterval(30);
      settings.username().ifPresent(connectionOptions::setUserName);
      settings.password().ifPresent(p -> connectionOptions.setPassword(p.getBytes(StandardCharsets.UTF_8)));
      CompletableFuture<Done> connected = new CompletableFuture<>();
      client.connect(connectionOptions, null, new org.eclipse.paho.mqttv5.client.MqttActionListener() {
        @Override
        public void onSuccess(IMqttToken token) {
          connected.complete(Done.getInstance());
        }

        @Override
        public void onFailure(IMqttToken token, Throwable error) {
          connected.completeExceptionally(new IllegalStateException(
              "Bridge could not connect to MQTT broker " + settings.mqttServerUri()
                  + " as '" + settings.clientId() + "': " + error
                  + ". Check fleetplane.bridge.mqtt.server-uri (FLEETPLANE_MQTT_URI) and credentials.",
              error));
        }
      });
      return connected;
    } catch (MqttException e) {
      return CompletableFuture.failedFuture(e);
    }
  }

  private void subscribe() {
    try {
      MqttSubscription subscription = new MqttSubscription(settings.effectiveSubscription(), 1);
      client.subscribe(new MqttSubscription[] {subscription}, null, null, new MqttProperties());
      log.info("Bridge {} subscribed to '{}' at QoS 1 on {}",
          settings.instanceId(), settings.effectiveSubscription(), settings.mqttServerUri());
    } catch (MqttException e) {
      log.error("Bridge {}: subscribe to '{}' failed: {}; reconnecting",
          settings.instanceId(), settings.effectiveSubscription(), e.toString());
      requestRedelivery();
    }
  }

  private void onMessage(String topic, MqttMessage message) {
    Metrics.increment(METRIC_IN);
    InboundMessage in = new InboundMessage(
        topic, message.getPayload(), message.getQos(), message.getId(), System.currentTimeMillis());
    BoundedSourceQueue<InboundMessage> current = queue.get();
    QueueOfferResult result = current == null ? QueueOfferResult.dropped() : current.offer(in);
    if (result == QueueOfferResult.enqueued()) {
      inFlight.incrementAndGet();
    } else {
      // Not acknowledged, so the broker still owes it to us: a reconnect makes it send it again.
      Metrics.increment(METRIC_REDELIVERY_REQUESTS);
      if (!stopping.get()) {
        requestRedelivery();
      }
    }
  }

  private void acknowledge(InboundMessage in) {
    inFlight.decrementAndGet();
    if (in.qos() == 0) {
      return;
    }
    try {
      client.messageArrivedComplete(in.messageId(), in.qos());
    } catch (MqttException e) {
      // The broker redelivers it after the reconnect; Kafka may then see it twice (at-least-once).
      log.warn("Bridge {}: could not acknowledge MQTT message {} on '{}': {}",
          settings.instanceId(), in.messageId(), in.topic(), e.toString());
    }
  }

  /** Reconnects once (coalescing concurrent requests) so the broker redelivers unacked messages. */
  private void requestRedelivery() {
    if (!redeliveryScheduled.compareAndSet(false, true)) {
      return;
    }
    system.scheduler().scheduleOnce(settings.minBackoff(), () -> {
      redeliveryScheduled.set(false);
      if (stopping.get()) {
        return;
      }
      try {
        log.info("Bridge {} reconnecting to {} for redelivery", settings.instanceId(), settings.mqttServerUri());
        if (client.isConnected()) {
          client.disconnect(1_000).waitForCompletion(5_000);
        }
        client.connect(connectionOptions);
      } catch (MqttException e) {
        log.warn("Bridge {}: reconnect failed ({}); retrying", settings.instanceId(), e.toString());
        requestRedelivery();
      }
    }, system.executionContext());
  }

  private void closeClient() {
    try {
      if (client.isConnected()) {
        client.disconnect(2_000).waitForCompletion(5_000);
      }
      client.close();
    } catch (MqttException e) {
      log.debug("Bridge {}: close: {}", settings.instanceId(), e.toString());
    }
    mqttConnected.set(false);
  }

  private final class Callback implements MqttCallback {
    @Override
    public void connectComplete(boolean reconnect, String serverUri) {
      mqttConnected.set(true);
      Metrics.gauge("fleetplane_bridge_mqtt_connected", Map.of(), 1);
      if (reconnect) {
        Metrics.increment("fleetplane_bridge_mqtt_reconnects");
      }
      log.info("Bridge {} connected to {}{}", settings.instanceId(), serverUri, reconnect ? " (reconnect)" : "");
      if (!stopping.get()) {
        subscribe();
      }
    }

    @Override
    public void disconnected(MqttDisconnectResponse response) {
      mqttConnected.set(false);
      Metrics.gauge("fleetplane_bridge_mqtt_connected", Map.of(), 0);
      if (!stopping.get()) {
        log.warn("Bridge {} lost MQTT connection to {}: {}; reconnecting automatically",
            settings.instanceId(), settings.mqttServerUri(), response);
      }
    }

    @Override
    public void messageArrived(String topic, MqttMessage message) {
      String session = sessionLevel(topic);
      if (session != null) {
        MDC.put(LogIds.DEVICE_SESSION_ID, session);
      }
      try {
        onMessage(topic, message);
      } finally {
        MDC.remove(LogIds.DEVICE_SESSION_ID);
      }
    }

    @Override
    public void mqttErrorOccurred(MqttException exception) {
      log.warn("Bridge {}: MQTT error: {}", settings.instanceId(), exception.toString());
    }

    @Override
    public void deliveryComplete(IMqttToken token) {}

    @Override
    public void authPacketArrived(int reasonCode, MqttProperties properties) {}
  }

  private static String sessionLevel(String topic) {
    String[] levels = topic.split("/", 7);
    return levels.length >= 5 ? levels[4] : null;
  }
}
