package io.fleetplane.registry;

import akka.Done;
import akka.actor.typed.ActorSystem;
import akka.cluster.sharding.typed.javadsl.ClusterSharding;
import akka.kafka.CommitterSettings;
import akka.kafka.ConsumerMessage.CommittableMessage;
import akka.kafka.ConsumerSettings;
import akka.kafka.ProducerSettings;
import akka.kafka.Subscriptions;
import akka.kafka.javadsl.Committer;
import akka.kafka.javadsl.Consumer;
import akka.kafka.javadsl.SendProducer;
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
import java.util.Map;
import java.util.concurrent.CompletionStage;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;

/**
 * The Kafka -> device session stream. One sub-stream per assigned partition processes its records
 * strictly in order, one at a time ({@code mapAsync(1)}): a record is handed to its session and
 * the next is pulled only after the session persisted it, so the consumer never runs ahead of the
 * journal. Offsets are committed after persistence, in batches.
 */
public final class DeviceEventsIngest {

  private static final Logger log = LoggerFactory.getLogger(DeviceEventsIngest.class);

  public static final String METRIC_APPLIED = "fleetplane_registry_records_processed";
  public static final String METRIC_DEAD_LETTERS = "fleetplane_registry_dead_letters";

  private final Consumer.DrainingControl<Done> control;
  private final SendProducer<String, byte[]> deadLetterProducer;

  private DeviceEventsIngest(Consumer.DrainingControl<Done> control, SendProducer<String, byte[]> producer) {
    this.control = control;
    this.deadLetterProducer = producer;
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
        (sessionId, rae, message, lineage) -> sharding
            .entityRefFor(DeviceSession.ENTITY_TYPE_KEY, sessionId)
            .<DeviceSession.ApplyReply>ask(
                replyTo -> new DeviceSession.ApplyMessage(rae, message, lineage, replyTo),
                settings.askTimeout())
            .thenApply(reply -> {
              Metrics.increment(METRIC_APPLIED, Map.of("result",
                  reply instanceof DeviceSession.Applied ? "applied" : "ignored"));
              return Done.getInstance();
            }),
        (record, reason, detail) -> deadLetter(deadLetterProducer, kafka, record, reason, detail));

    Consumer.DrainingControl<Done> control =
        Consumer.committablePartitionedSource(consumerSettings, Subscriptions.topics(kafka.deviceEventsTopic()))
            .mapAsyncUnordered(settings.maxPartitions(), partitionAndSource -> {
              int partition = partitionAndSource.first().partition();
              log.info("Registry consuming {} partition {}", kafka.deviceEventsTopic(), partition);
              return partitionAndSource.second()
                  .mapAsync(1, (CommittableMessage<String, byte[]> message) ->
                      handler.handle(message.record()).thenApply(done -> message.committableOffset()))
                  .runWith(Committer.sink(committerSettings), system);
            })
            .toMat(Sink.ignore(), Consumer::createDrainingControl)
            .run(system);
    log.info("Registry ingest started: topic {}, group {}", kafka.deviceEventsTopic(), settings.consumerGroupId());
    return new DeviceEventsIngest(control, deadLetterProducer);
  }

  private static CompletionStage<Done> deadLetter(
      SendProducer<String, byte[]> producer, KafkaSettings kafka,
      ConsumerRecord<String, byte[]> record, ErrorCode reason, String detail) {
    Metrics.increment(METRIC_DEAD_LETTERS, Map.of("reason", reason.code()));
    MDC.put(LogIds.KAFKA_PARTITION, Integer.toString(record.partition()));
    MDC.put(LogIds.KAFKA_OFFSET, Long.toString(record.offset()));
    try {
      log.warn("Dead-lettering record {}-{}@{} (key '{}'): {} ({})", record.topic(), record.partition(),
          record.offset(), record.key(), reason.code(), detail);
    } finally {
      MDC.remove(LogIds.KAFKA_PARTITION);
      MDC.remove(LogIds.KAFKA_OFFSET);
    }
    RecordHeaders headers = new RecordHeaders(record.headers().toArray());
    headers.add(KafkaHeaders.ERROR_CODE, reason.code().getBytes(StandardCharsets.UTF_8));
    headers.add(KafkaHeaders.ERROR_DETAIL, detail.getBytes(StandardCharsets.UTF_8));
    headers.add(KafkaHeaders.REJECTED_BY, "registry".getBytes(StandardCharsets.UTF_8));
    return producer
        .send(new ProducerRecord<>(kafka.deadLettersTopic(), null, record.key(), record.value(), headers))
        .thenApply(metadata -> Done.getInstance());
  }

  /** Stops fetching, lets fetched records finish, commits their offsets, then stops. */
  public CompletionStage<Done> stop() {
    log.info("Registry ingest draining");
    return control.drainAndShutdown(java.util.concurrent.ForkJoinPool.commonPool())
        .exceptionally(error -> {
          log.warn("Registry ingest stopped with error: {}", error.toString());
          return Done.getInstance();
        })
        .thenCompose(done -> deadLetterProducer.close())
        .thenApply(done -> Done.getInstance());
  }

  /** Completes (exceptionally when it failed) when the stream has stopped. */
  public CompletionStage<Done> whenStopped() {
    return control.streamCompletion();
  }
}
