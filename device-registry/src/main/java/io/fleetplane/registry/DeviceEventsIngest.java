package io.fleetplane.registry;

import akka.Done;
import akka.actor.Cancellable;
import akka.actor.typed.ActorSystem;
import akka.cluster.sharding.typed.javadsl.ClusterSharding;
import akka.kafka.CommitterSettings;
import akka.kafka.ConsumerMessage.CommittableMessage;
import akka.kafka.ConsumerMessage.CommittableOffset;
import akka.kafka.ConsumerSettings;
import akka.kafka.ProducerSettings;
import akka.kafka.Subscriptions;
import akka.kafka.javadsl.Committer;
import akka.kafka.javadsl.Consumer;
import akka.kafka.javadsl.SendProducer;
import akka.pattern.AskTimeoutException;
import akka.stream.KillSwitches;
import akka.stream.RestartSettings;
import akka.stream.SharedKillSwitch;
import akka.stream.javadsl.RestartSource;
import akka.stream.javadsl.Sink;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fleetplane.config.ErrorCode;
import io.fleetplane.config.KafkaHeaders;
import io.fleetplane.config.KafkaSettings;
import io.fleetplane.config.LogIds;
import io.fleetplane.config.metrics.Metrics;
import io.fleetplane.registry.domain.DevicePayloadParser;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executor;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.IntConsumer;
import java.util.function.Supplier;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ListConsumerGroupOffsetsSpec;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;

/**
 * The Kafka -> device session stream.
 *
 * <p><b>Order and back-pressure.</b> One sub-stream per assigned partition hands its records to
 * their sessions in offset order, with at most {@code max-in-flight-per-partition} not yet
 * persisted ({@code mapAsync(n)}): the consumer never runs further ahead of the journal than that,
 * and nothing queues without bound. Records of different sessions persist concurrently; records of
 * one session strictly one after the other ({@link PerKeyChain}): a session's next record is sent
 * only once the previous one was persisted, and fails unsent if that one failed. FIFO delivery
 * alone would not do: a record lost on the way (a failed persist) while a later one of the same
 * session was already sent would be redelivered after the restart and then ignored as stale.
 * Completions are emitted in offset order, so an offset is committed only when every record
 * before it in the partition was persisted.
 *
 * <p><b>Commits.</b> Offsets are committed after persistence, in batches ({@code Committer.sink});
 * a crash re-delivers at most the uncommitted batch, which the sessions ignore as stale.
 *
 * <p><b>Supervision.</b> A record that cannot be used is dead-lettered and the stream goes on.
 * Anything else that fails the stream (a session not answering in time, Kafka errors) restarts the
 * consumer with exponential backoff from the last committed offsets.
 *
 * <p><b>Shutdown.</b> {@link #stop()} stops fetching, lets fetched records finish, commits their
 * offsets, and only then completes (Alpakka's drain-and-shutdown).
 */
public final class DeviceEventsIngest {

  private static final Logger log = LoggerFactory.getLogger(DeviceEventsIngest.class);

  /**
   * Runs a per-record continuation on the thread that completed the stage. The stages Akka
   * returns (ask) turn every plain {@code thenApply} into {@code thenApplyAsync} on
   * CompletableFuture's default executor, and on a machine with two cores or fewer that executor
   * starts a new thread per task: two thread starts per record, which capped ingest near
   * 1,100 records/s (profiled; docs/benchmarks.md). These continuations only record a metric.
   */
  private static final Executor SAME_THREAD = Runnable::run;

  public static final String METRIC_PROCESSED = "fleetplane_registry_records_processed";
  public static final String METRIC_DEAD_LETTERS = "fleetplane_registry_dead_letters";
  public static final String METRIC_RESTARTS = "fleetplane_registry_consumer_restarts";
  /** Asks repeated because a session did not answer within ask-timeout. */
  public static final String METRIC_APPLY_RETRIES = "fleetplane_registry_apply_retries";
  public static final String METRIC_APPLY_LATENCY = "fleetplane_registry_apply_latency";

  private final AtomicReference<Consumer.Control> control;
  private final AtomicReference<SharedKillSwitch> crashSwitch;
  private final CompletionStage<Done> streamDone;
  private final SendProducer<String, byte[]> deadLetterProducer;
  private final ConsumerLagMetrics lagMetrics;
  private final Cancellable lagPolling;
  private final Admin admin;
  private final AtomicBoolean stopping = new AtomicBoolean();

  private DeviceEventsIngest(AtomicReference<Consumer.Control> control, AtomicReference<SharedKillSwitch> crashSwitch,
      CompletionStage<Done> streamDone, SendProducer<String, byte[]> deadLetterProducer, ConsumerLagMetrics lagMetrics,
      Cancellable lagPolling, Admin admin) {
    this.control = control;
    this.crashSwitch = crashSwitch;
    this.streamDone = streamDone;
    this.deadLetterProducer = deadLetterProducer;
    this.lagMetrics = lagMetrics;
    this.lagPolling = lagPolling;
    this.admin = admin;
  }

  public static DeviceEventsIngest start(ActorSystem<?> system, RegistrySettings settings, KafkaSettings kafka) {
    ConsumerSettings<String, byte[]> consumerSettings =
        ConsumerSettings.create(system, new StringDeserializer(), new ByteArrayDeserializer())
            .withBootstrapServers(kafka.bootstrapServers())
            .withProperties(kafka.clientProperties())
            .withGroupId(settings.consumerGroupId())
            .withProperty(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest")
            .withProperty(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false")
            // drainAndShutdown does the draining; the default 30 s stop-timeout would only add delay.
            .withStopTimeout(Duration.ZERO);
    ProducerSettings<String, byte[]> producerSettings =
        ProducerSettings.create(system, new StringSerializer(), new ByteArraySerializer())
            .withBootstrapServers(kafka.bootstrapServers())
            .withProperties(kafka.clientProperties())
            .withProperty(ProducerConfig.ACKS_CONFIG, "all")
            .withProperty(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
    SendProducer<String, byte[]> deadLetterProducer = new SendProducer<>(producerSettings, system);
    CommitterSettings committerSettings = CommitterSettings.create(system)
        .withMaxBatch(settings.commitMaxBatch())
        .withMaxInterval(settings.commitMaxInterval());

    ClusterSharding sharding = ClusterSharding.get(system);
    DeviceRecordHandler handler = new DeviceRecordHandler(
        new DevicePayloadParser(new ObjectMapper()),
        (sessionId, rae, message, lineage) -> {
          long askedAt = System.nanoTime();
          return retryingAskTimeouts(() -> sharding
                  .entityRefFor(DeviceSession.ENTITY_TYPE_KEY, sessionId)
                  .<DeviceSession.ApplyReply>ask(
                      replyTo -> new DeviceSession.ApplyMessage(rae, message, lineage, replyTo),
                      settings.askTimeout()),
              settings.askRetries(), retriesLeft -> {
                Metrics.increment(METRIC_APPLY_RETRIES);
                log.warn("Session {} did not answer within {}; asking again ({} retries left after this)",
                    sessionId, settings.askTimeout(), retriesLeft);
              })
              .thenApplyAsync(reply -> {
                boolean applied = reply instanceof DeviceSession.Applied;
                // Ask -> persisted -> reply: the persist latency as the stream experiences it.
                Metrics.recordTime(METRIC_APPLY_LATENCY, Map.of("result", applied ? "applied" : "ignored"),
                    Duration.ofNanos(System.nanoTime() - askedAt));
                Metrics.increment(METRIC_PROCESSED, Map.of("result", applied ? "applied" : "ignored"));
                return Done.getInstance();
              }, SAME_THREAD);
        },
        (record, reason, detail) -> deadLetter(deadLetterProducer, kafka, record, reason, detail));

    AtomicReference<Consumer.Control> control = new AtomicReference<>(Consumer.createNoopControl());
    AtomicReference<SharedKillSwitch> crashSwitch = new AtomicReference<>(KillSwitches.shared("registry-consumer"));
    AtomicBoolean firstStart = new AtomicBoolean(true);
    RestartSettings restart = RestartSettings.create(settings.restartMinBackoff(), settings.restartMaxBackoff(), 0.2);
    CompletionStage<Done> streamDone = RestartSource.onFailuresWithBackoff(restart, () -> {
          if (!firstStart.getAndSet(false)) {
            Metrics.increment(METRIC_RESTARTS);
            log.warn("Registry consumer restarting from the last committed offsets");
          }
          SharedKillSwitch killSwitch = KillSwitches.shared("registry-consumer");
          crashSwitch.set(killSwitch);
          return Consumer.committablePartitionedSource(consumerSettings, Subscriptions.topics(kafka.deviceEventsTopic()))
              .mapMaterializedValue(c -> {
                control.set(c);
                return c;
              })
              .via(killSwitch.flow())
              .mapAsyncUnordered(settings.maxPartitions(), partitionAndSource -> {
                int partition = partitionAndSource.first().partition();
                log.info("Registry consuming {} partition {}", kafka.deviceEventsTopic(), partition);
                // One chain per sub-stream: a session's records are keyed to one partition.
                PerKeyChain<String> perSession = new PerKeyChain<>();
                return partitionAndSource.second()
                    .via(killSwitch.flow())
                    .mapAsync(settings.maxInFlightPerPartition(),
                        (CommittableMessage<String, byte[]> message) ->
                            perSession.submit(message.record().key(), () -> handleOne(handler, message)))
                    .runWith(Committer.sink(committerSettings), system);
              })
              .watchTermination((mat, done) -> {
                done.whenComplete((d, error) -> {
                  if (error != null) {
                    log.error("Registry consumer failed: {}", error.toString());
                  }
                });
                return mat;
              });
        })
        .runWith(Sink.ignore(), system);

    ConsumerLagMetrics lagMetrics = new ConsumerLagMetrics(kafka.deviceEventsTopic());
    Admin admin = admin(kafka);
    // A repeated task that throws is never run again (Akka's scheduler): a consumer that is just
    // restarting must not end lag reporting for good.
    Cancellable lagPolling = system.scheduler().scheduleAtFixedRate(settings.metricsInterval(),
        settings.metricsInterval(), () -> {
          try {
            control.get().getMetrics()
                .thenCompose(metrics -> {
                  lagMetrics.recordClientMetrics(metrics);
                  return readLag(admin, settings.consumerGroupId(), lagMetrics.assigned(metrics), lagMetrics);
                })
                .whenComplete((done, error) -> {
                  if (error != null) {
                    log.debug("Consumer lag not readable now: {}", error.toString());
                  }
                });
          } catch (RuntimeException e) {
            log.debug("Consumer metrics not available now: {}", e.toString());
          }
        },
        system.executionContext());
    log.info("Registry ingest started: topic {}, group {}", kafka.deviceEventsTopic(), settings.consumerGroupId());
    return new DeviceEventsIngest(control, crashSwitch, streamDone, deadLetterProducer, lagMetrics, lagPolling, admin);
  }

  private static Admin admin(KafkaSettings kafka) {
    Map<String, Object> properties = new HashMap<>(kafka.clientProperties());
    properties.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
    properties.put(AdminClientConfig.CLIENT_ID_CONFIG, "fleetplane-registry-lag");
    return Admin.create(properties);
  }

  /**
   * Log-end minus committed offset for the partitions this node holds; a partition the group never
   * committed counts from its earliest offset.
   */
  private static CompletionStage<Void> readLag(Admin admin, String groupId, Set<TopicPartition> partitions,
      ConsumerLagMetrics lagMetrics) {
    if (partitions.isEmpty()) {
      lagMetrics.recordLag(Map.of(), Map.of());
      return CompletableFuture.completedFuture(null);
    }
    Map<TopicPartition, OffsetSpec> latest = new HashMap<>();
    Map<TopicPartition, OffsetSpec> earliest = new HashMap<>();
    partitions.forEach(tp -> {
      latest.put(tp, OffsetSpec.latest());
      earliest.put(tp, OffsetSpec.earliest());
    });
    ListConsumerGroupOffsetsSpec held = new ListConsumerGroupOffsetsSpec().topicPartitions(partitions);
    var committedFuture = admin.listConsumerGroupOffsets(Map.of(groupId, held))
        .partitionsToOffsetAndMetadata(groupId).toCompletionStage();
    var endsFuture = admin.listOffsets(latest).all().toCompletionStage();
    var startsFuture = admin.listOffsets(earliest).all().toCompletionStage();
    return committedFuture.thenCompose(committed -> endsFuture.thenCombine(startsFuture, (ends, starts) -> {
      Map<TopicPartition, Long> endOffsets = new HashMap<>();
      Map<TopicPartition, Long> committedOffsets = new HashMap<>();
      for (TopicPartition tp : partitions) {
        endOffsets.put(tp, ends.get(tp).offset());
        OffsetAndMetadata offset = committed.get(tp);
        committedOffsets.put(tp, offset == null ? starts.get(tp).offset() : offset.offset());
      }
      lagMetrics.recordLag(endOffsets, committedOffsets);
      return null;
    }));
  }

  /**
   * Fails the running consumer and its partition sub-streams as a crash would (records in flight
   * are abandoned, nothing more is committed); the supervision then restarts it with backoff from
   * the committed offsets. For tests that prove recovery, and for an operator forcing a restart.
   */
  public void crashConsumer(Throwable cause) {
    crashSwitch.get().abort(cause);
  }

  /**
   * Runs {@code ask}; when it times out, runs it again, up to {@code retries} times. Other failures
   * are not retried: they are the stream's to handle.
   */
  static <T> CompletionStage<T> retryingAskTimeouts(Supplier<CompletionStage<T>> ask, int retries,
      IntConsumer beforeRetry) {
    CompletionStage<T> asked = ask.get();
    if (retries <= 0) {
      return asked;
    }
    return asked.handle((reply, error) -> {
      Throwable cause = error instanceof CompletionException && error.getCause() != null ? error.getCause() : error;
      if (cause instanceof AskTimeoutException) {
        beforeRetry.accept(retries - 1);
        return retryingAskTimeouts(ask, retries - 1, beforeRetry);
      }
      return error == null ? CompletableFuture.completedFuture(reply) : CompletableFuture.<T>failedFuture(cause);
    }).thenCompose(next -> next);
  }

  /** Hands one record to the handler; a bug in handling one record dead-letters that record. */
  private static CompletionStage<CommittableOffset> handleOne(
      DeviceRecordHandler handler, CommittableMessage<String, byte[]> message) {
    ConsumerRecord<String, byte[]> record = message.record();
    MDC.put(LogIds.KAFKA_PARTITION, Integer.toString(record.partition()));
    MDC.put(LogIds.KAFKA_OFFSET, Long.toString(record.offset()));
    // The key is fleet/rae/{rae}/device/{session}; its last level names the session (validated later).
    String key = record.key();
    if (key != null && key.lastIndexOf('/') >= 0) {
      MDC.put(LogIds.DEVICE_SESSION_ID, key.substring(key.lastIndexOf('/') + 1));
    }
    try {
      return handler.handle(record).thenApplyAsync(done -> message.committableOffset(), SAME_THREAD);
    } catch (RuntimeException unexpected) {
      log.error("Handling record {}-{}@{} failed unexpectedly; dead-lettering it", record.topic(),
          record.partition(), record.offset(), unexpected);
      return handler.deadLetter(record, ErrorCode.INTERNAL, unexpected.toString())
          .thenApply(done -> message.committableOffset());
    } finally {
      MDC.remove(LogIds.KAFKA_PARTITION);
      MDC.remove(LogIds.KAFKA_OFFSET);
      MDC.remove(LogIds.DEVICE_SESSION_ID);
    }
  }

  private static CompletionStage<Done> deadLetter(
      SendProducer<String, byte[]> producer, KafkaSettings kafka,
      ConsumerRecord<String, byte[]> record, ErrorCode reason, String detail) {
    Metrics.increment(METRIC_DEAD_LETTERS, Map.of("reason", reason.code()));
    log.warn("Dead-lettering record {}-{}@{} (key '{}'): {} ({})", record.topic(), record.partition(),
        record.offset(), record.key(), reason.code(), detail);
    RecordHeaders headers = new RecordHeaders(record.headers().toArray());
    headers.add(KafkaHeaders.ERROR_CODE, reason.code().getBytes(StandardCharsets.UTF_8));
    headers.add(KafkaHeaders.ERROR_DETAIL, detail.getBytes(StandardCharsets.UTF_8));
    headers.add(KafkaHeaders.REJECTED_BY, "registry".getBytes(StandardCharsets.UTF_8));
    return producer
        .send(new ProducerRecord<>(kafka.deadLettersTopic(), null, record.key(), record.value(), headers))
        .thenApply(metadata -> Done.getInstance());
  }

  /** Records the current consumer fetched from Kafka so far (refreshed every metrics-interval). */
  public long recordsFetched() {
    return lagMetrics.recordsFetched();
  }

  /** The latest consumer lag figures (sum and max over this node's partitions). */
  public ConsumerLagMetrics.Lag lag() {
    return lagMetrics.latest();
  }

  /** Stops fetching, lets fetched records finish, commits their offsets, then stops. */
  public CompletionStage<Done> stop() {
    if (!stopping.compareAndSet(false, true)) {
      return streamDone;
    }
    log.info("Registry ingest draining: finishing fetched records and committing their offsets");
    lagPolling.cancel();
    return control.get().drainAndShutdown(streamDone, ForkJoinPool.commonPool())
        .exceptionally(error -> {
          log.warn("Registry ingest stopped with error: {}", error.toString());
          return Done.getInstance();
        })
        .thenCompose(done -> deadLetterProducer.close())
        .whenComplete((done, error) -> admin.close(Duration.ofSeconds(5)))
        .thenApply(done -> {
          log.info("Registry ingest stopped");
          return Done.getInstance();
        });
  }

  /** Completes when the stream has stopped for good (after {@link #stop()}, or never while it restarts). */
  public CompletionStage<Done> whenStopped() {
    return streamDone;
  }

  /** Whether the consumer is running now (false while it waits to restart or after stop). */
  public boolean isRunning() {
    return !stopping.get() && !streamDone.toCompletableFuture().isDone()
        && !control.get().isShutdown().toCompletableFuture().isDone();
  }
}
