package io.fleetplane.bridge;

import akka.Done;
import akka.NotUsed;
import akka.actor.typed.ActorSystem;
import akka.japi.Pair;
import akka.kafka.ProducerMessage;
import akka.kafka.ProducerSettings;
import akka.kafka.javadsl.Producer;
import akka.stream.BoundedSourceQueue;
import akka.stream.KillSwitches;
import akka.stream.QueueOfferResult;
import akka.stream.RestartSettings;
import akka.stream.UniqueKillSwitch;
import akka.stream.javadsl.Keep;
import akka.stream.javadsl.RestartSource;
import akka.stream.javadsl.Sink;
import akka.stream.javadsl.Source;
import io.fleetplane.bridge.InboundRecords.Built;
import io.fleetplane.bridge.domain.DeviceToCloudTopics;
import io.fleetplane.bridge.domain.InboundRouting.Route;
import io.fleetplane.bridge.domain.InboundRouting.ToDeadLetters;
import io.fleetplane.bridge.domain.InboundRouting.ToDeviceEvents;
import io.fleetplane.bridge.domain.ProgressWatch;
import io.fleetplane.config.KafkaSettings;
import io.fleetplane.config.LogIds;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Predicate;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;

/**
 * The Kafka side of the device-to-cloud path: a bounded queue feeding Alpakka's
 * {@code Producer.flexiFlow}, restarted with exponential backoff when the producer fails.
 * Every message leaves it exactly once, either acknowledged by Kafka (then the MQTT side
 * acknowledges it to the broker) or lost with its stream generation (then the broker must
 * redeliver it, which a reconnect triggers).
 *
 * <p><b>Generations.</b> Each (re)start of the stream is a generation with its own queue and
 * in-flight count. When a generation dies, whatever it held will never be acknowledged; the
 * forwarder asks for a redelivery as soon as the next generation can take messages.
 *
 * <p><b>Threads.</b> {@link #offer} is called from Paho's callback thread; it waits only while
 * {@code max-in-flight} messages are already in flight (see there why). The producer stage runs on Alpakka's dispatcher
 * ({@code akka.kafka.default-dispatcher}) behind an async boundary, so a {@code send()} that
 * blocks on missing metadata (up to {@code max.block.ms}) never parks Akka's default dispatcher.
 */
final class KafkaForwarder {

  private static final Logger log = LoggerFactory.getLogger(KafkaForwarder.class);
  /** Alpakka's producer thread pool (reference.conf of akka-stream-kafka). */
  static final String PRODUCER_DISPATCHER = "akka.kafka.default-dispatcher";

  private final ActorSystem<?> system;
  private final BridgeSettings settings;
  private final ProducerSettings<String, byte[]> producerSettings;
  private final InboundRecords records;
  private final ProgressWatch progress;
  private final Predicate<InboundMessage> connectionStillCurrent;
  private final Consumer<InboundMessage> acknowledge;
  private final Runnable requestRedelivery;
  private final RateLimitedLog deadLetterLog;
  /** How long the MQTT intake may wait for a free in-flight slot (half the keep-alive). */
  private final Duration intakeWaitLimit;
  private static final long INTAKE_POLL_NANOS = 200_000;

  private final AtomicReference<Generation> current = new AtomicReference<>();
  private final AtomicInteger generations = new AtomicInteger();
  private final AtomicBoolean completing = new AtomicBoolean();
  private volatile boolean redeliveryPending;
  private volatile boolean restarting;
  private volatile String lastError;
  private UniqueKillSwitch killSwitch;
  private CompletionStage<Done> done;

  /** One run of the stream: its queue and what it holds. */
  private static final class Generation {
    final int number;
    final AtomicInteger inFlight = new AtomicInteger();
    final AtomicLong inFlightBytes = new AtomicLong();
    volatile BoundedSourceQueue<InboundMessage> queue;
    volatile boolean dead;

    Generation(int number) {
      this.number = number;
    }
  }

  /** What travels through the producer with a record; {@code route} is null when skipped. */
  private record Pending(InboundMessage in, Route route, long sentAtNanos, int payloadBytes) {}

  /** What health reports about the Kafka side. */
  record Status(int inFlight, int highWaterMark, boolean stalled, Duration waitingFor,
      boolean restarting, Optional<String> lastError) {}

  KafkaForwarder(ActorSystem<?> system, BridgeSettings settings, KafkaSettings kafka,
      Predicate<InboundMessage> connectionStillCurrent, Consumer<InboundMessage> acknowledge,
      Runnable requestRedelivery) {
    this.system = system;
    this.settings = settings;
    this.producerSettings = producerSettings(system, settings, kafka);
    this.records = new InboundRecords(kafka, settings.instanceId(), settings.maxPayloadBytes(),
        ThreadLocalRandom.current());
    this.progress = new ProgressWatch(settings.kafkaStallTimeout(), System.nanoTime());
    this.connectionStillCurrent = connectionStillCurrent;
    this.acknowledge = acknowledge;
    this.requestRedelivery = requestRedelivery;
    this.deadLetterLog = new RateLimitedLog(log, settings.deadLetterLogInterval());
    this.intakeWaitLimit = settings.mqtt().keepAlive().dividedBy(2);
  }

  /**
   * The producer as reference.conf explains it: idempotent with {@code acks=all} (retries can
   * neither duplicate nor reorder a session's records), outages waited out up to the delivery
   * timeout, {@code send()} blocking at most {@code max-block} and only on Alpakka's dispatcher.
   * Our safety settings are applied after {@code client-properties} so they cannot be weakened.
   */
  static ProducerSettings<String, byte[]> producerSettings(
      ActorSystem<?> system, BridgeSettings settings, KafkaSettings kafka) {
    BridgeSettings.Producer p = settings.producer();
    return ProducerSettings.create(system, new StringSerializer(), new ByteArraySerializer())
        .withBootstrapServers(kafka.bootstrapServers())
        .withProperties(kafka.clientProperties())
        .withProperty(ProducerConfig.ACKS_CONFIG, "all")
        .withProperty(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true")
        .withProperty(ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, "5")
        .withProperty(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, millis(p.deliveryTimeout()))
        .withProperty(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, millis(p.requestTimeout()))
        .withProperty(ProducerConfig.MAX_BLOCK_MS_CONFIG, millis(p.maxBlock()))
        .withProperty(ProducerConfig.LINGER_MS_CONFIG, millis(p.linger()))
        .withProperty(ProducerConfig.BATCH_SIZE_CONFIG, Integer.toString(p.batchSizeBytes()))
        .withProperty(ProducerConfig.CLIENT_ID_CONFIG, "fleetplane-bridge-" + settings.instanceId())
        .withCloseTimeout(p.closeTimeout())
        .withDispatcher(PRODUCER_DISPATCHER);
  }

  private static String millis(Duration d) {
    return Long.toString(d.toMillis());
  }

  void start() {
    RestartSettings restart = RestartSettings.create(
        settings.restart().min(), settings.restart().max(), settings.restart().randomFactor());
    Pair<UniqueKillSwitch, CompletionStage<Done>> running =
        RestartSource.onFailuresWithBackoff(restart, this::generation)
            .viaMat(KillSwitches.single(), Keep.right())
            .toMat(Sink.ignore(), Keep.both())
            .run(system);
    killSwitch = running.first();
    done = running.second();
  }

  /**
   * Hands a message to Kafka, waiting while {@code max-in-flight} messages, or
   * {@code max-in-flight-bytes} of payload, are already in flight;
   * false when it cannot be taken (the stream is restarting or stopping, or stayed full for
   * longer than the wait limit). The caller then leaves it unacknowledged and asks for a
   * redelivery.
   *
   * <p>Why wait here, on Paho's callback thread: a broker that honours our receive-maximum never
   * lets this wait (it stops sending first). One that does not (Mosquitto 2.0.11 was measured
   * sending thousands over the limit once its queue for us had filled) is slowed down through TCP:
   * Paho stops reading the socket while its callback waits. Either way what the bridge holds
   * stays bounded by {@code max-in-flight}, and publish order is kept. The wait is shorter than
   * the keep-alive so that Paho does not declare the connection dead meanwhile.
   */
  boolean offer(InboundMessage in) {
    long deadline = 0;
    while (true) {
      Generation g = current.get();
      if (g == null || g.dead || completing.get()) {
        return false;
      }
      int n = g.inFlight.get();
      int size = in.payload().length;
      // The byte budget lets max-in-flight be large (a broker that hands out its queue one batch
      // of receive-maximum messages at a time needs that) without large payloads multiplying it.
      if (n < settings.maxInFlight() && (n == 0 || g.inFlightBytes.get() + size <= settings.maxInFlightBytes())) {
        if (!g.inFlight.compareAndSet(n, n + 1)) {
          continue;
        }
        g.inFlightBytes.addAndGet(size);
        // Counted before offering: the stream may complete it before offer() even returns.
        progress.enqueued(System.nanoTime());
        if (g.queue.offer(in) == QueueOfferResult.enqueued()) {
          return true;
        }
        // The generation is ending: its queue takes nothing more. If it already died, died()
        // has counted this message among the abandoned ones; do not count it twice.
        g.inFlightBytes.addAndGet(-size);
        if (g.inFlight.decrementAndGet() >= 0) {
          progress.abandoned(1, System.nanoTime());
        } else {
          g.inFlight.incrementAndGet();
        }
        return false;
      }
      if (Thread.currentThread().isInterrupted() || !connectionStillCurrent.test(in)) {
        return false; // Paho is closing this connection: the broker resends the message anyway
      }
      long now = System.nanoTime();
      if (deadline == 0) {
        deadline = now + intakeWaitLimit.toNanos();
        BridgeMetrics.count(BridgeMetrics.INTAKE_PAUSES, BridgeMetrics.INBOUND);
      } else if (now - deadline > 0) {
        return false;
      }
      LockSupport.parkNanos(INTAKE_POLL_NANOS);
    }
  }

  /**
   * Messages were left unacknowledged: reconnect now if a generation can take the redelivery,
   * else as soon as the next one starts.
   */
  void redeliveryNeeded() {
    redeliveryPending = true;
    Generation g = current.get();
    if (g != null && !g.dead && !completing.get()) {
      redeliveryPending = false;
      requestRedelivery.run();
    }
  }

  Status status() {
    long now = System.nanoTime();
    return new Status(progress.inFlight(), progress.highWaterMark(), progress.stalled(now) || restarting,
        progress.waitingFor(now), restarting, Optional.ofNullable(lastError));
  }

  int inFlight() {
    return progress.inFlight();
  }

  /**
   * Stops taking messages and completes when everything taken was acknowledged by Kafka (and
   * handed back for the MQTT acknowledgement), or the stream ended otherwise.
   */
  CompletionStage<Done> complete() {
    completing.set(true);
    Generation g = current.get();
    if (g != null && !g.dead) {
      g.queue.complete();
    }
    return done;
  }

  /** Ends the stream now, dropping what it holds (left unacknowledged with the broker). */
  void abort() {
    killSwitch.abort(new IllegalStateException("bridge stopped before Kafka acknowledged everything"));
  }

  // ---------------------------------------------------------------------------------------------

  private Source<Done, NotUsed> generation() {
    if (completing.get()) {
      return Source.empty();
    }
    Generation g = new Generation(generations.incrementAndGet());
    return Source.<InboundMessage>queue(settings.maxInFlight())
        .mapMaterializedValue(queue -> {
          g.queue = queue;
          installed(g);
          return NotUsed.getInstance();
        })
        .map(this::envelope)
        // The producer and everything after it run on Alpakka's dispatcher, not the default one.
        .async()
        .via(Producer.flexiFlow(producerSettings))
        .map(result -> completed(g, result.passThrough()))
        .watchTermination((mat, terminated) -> {
          terminated.whenComplete((d, error) -> died(g, error));
          return mat;
        });
  }

  private void installed(Generation g) {
    current.set(g);
    if (completing.get()) {
      g.queue.complete();
      return;
    }
    if (g.number > 1) {
      log.info("Bridge {}: Kafka stream generation {} started", settings.instanceId(), g.number);
    }
    if (redeliveryPending) {
      redeliveryPending = false;
      requestRedelivery.run();
    }
  }

  private ProducerMessage.Envelope<String, byte[], Pending> envelope(InboundMessage in) {
    if (!connectionStillCurrent.test(in)) {
      // Its connection is gone: it could no longer be acknowledged, and the broker resends it on
      // the new connection. Skipping it here saves a duplicate in Kafka.
      return ProducerMessage.passThrough(new Pending(in, null, 0, 0));
    }
    Built built = records.build(in);
    BridgeMetrics.count(BridgeMetrics.TRACE_CONTEXT,
        Map.of("source", built.traceGenerated() ? "generated" : "device"));
    if (built.route() instanceof ToDeadLetters dead) {
      logDeadLetter(in, dead);
    }
    return ProducerMessage.single(built.record(),
        new Pending(in, built.route(), System.nanoTime(), in.payload().length));
  }

  private void logDeadLetter(InboundMessage in, ToDeadLetters dead) {
    DeviceToCloudTopics.sessionLevel(in.topic()).ifPresent(s -> MDC.put(LogIds.DEVICE_SESSION_ID, s));
    try {
      deadLetterLog.warn(dead.reason().code(),
          "Dead-lettering MQTT message on topic '{}': {} ({}). The device must fix its topic or "
              + "payload (docs/protocol.md); the record is in the dead-letter topic with header {}",
          InboundRecords.shortened(in.topic()), dead.reason().code(), dead.detail(),
          io.fleetplane.config.KafkaHeaders.ERROR_CODE);
    } finally {
      MDC.remove(LogIds.DEVICE_SESSION_ID);
    }
  }

  private Done completed(Generation g, Pending p) {
    long now = System.nanoTime();
    restarting = false;
    if (p.route() instanceof ToDeviceEvents device) {
      BridgeMetrics.recordProduceLatency(Duration.ofNanos(now - p.sentAtNanos()));
      BridgeMetrics.count(BridgeMetrics.MESSAGES_OUT, Map.of(BridgeMetrics.DIRECTION,
          BridgeMetrics.DEVICE_TO_CLOUD, "channel", device.topic().channel().topicLevel()));
      BridgeMetrics.count(BridgeMetrics.BYTES_OUT, BridgeMetrics.INBOUND, p.payloadBytes());
    } else if (p.route() instanceof ToDeadLetters dead) {
      BridgeMetrics.recordProduceLatency(Duration.ofNanos(now - p.sentAtNanos()));
      BridgeMetrics.count(BridgeMetrics.DEAD_LETTERS, Map.of("reason", dead.reason().code()));
    }
    // Acknowledge to the broker first, then release the slot: a graceful stop that sees zero in
    // flight must find every acknowledgement already sent.
    acknowledge.accept(p.in());
    // The watch before the slot: a new message can then never make the watch count one too many.
    progress.completed(now);
    g.inFlightBytes.addAndGet(-p.in().payload().length);
    g.inFlight.decrementAndGet();
    return Done.getInstance();
  }

  private void died(Generation g, Throwable error) {
    g.dead = true;
    int lost = g.inFlight.getAndSet(0);
    g.inFlightBytes.set(0);
    progress.abandoned(lost, System.nanoTime());
    if (error == null) {
      return; // completed on purpose (graceful stop)
    }
    lastError = error.toString();
    if (completing.get()) {
      log.warn("Bridge {}: Kafka stream ended during shutdown with {} message(s) unacknowledged "
          + "(the broker keeps them): {}", settings.instanceId(), lost, error.toString());
      return;
    }
    restarting = true;
    BridgeMetrics.count(BridgeMetrics.KAFKA_STREAM_RESTARTS, BridgeMetrics.INBOUND);
    log.error("Bridge {}: Kafka producer failed ({}); {} in-flight message(s) will be redelivered by "
        + "the MQTT broker; restarting with backoff. If this repeats, check that Kafka at "
        + "fleetplane.kafka.bootstrap-servers is reachable and the topics exist.",
        settings.instanceId(), error.toString(), lost);
    if (lost > 0) {
      redeliveryPending = true;
    }
  }
}
