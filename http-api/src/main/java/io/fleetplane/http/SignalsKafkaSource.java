package io.fleetplane.http;

import akka.Done;
import akka.actor.typed.ActorSystem;
import akka.kafka.CommitterSettings;
import akka.kafka.ConsumerMessage.CommittableMessage;
import akka.kafka.ConsumerMessage.CommittableOffset;
import akka.kafka.ConsumerSettings;
import akka.kafka.Subscriptions;
import akka.kafka.javadsl.Committer;
import akka.kafka.javadsl.Consumer;
import akka.stream.RestartSettings;
import akka.stream.javadsl.RestartSource;
import akka.stream.javadsl.Sink;
import com.fasterxml.jackson.databind.JsonNode;
import com.typesafe.config.Config;
import io.fleetplane.config.KafkaSettings;
import io.fleetplane.config.metrics.Metrics;
import io.fleetplane.jobs.workflow.signal.SignalStore.Signal;
import io.fleetplane.jobs.workflow.signal.WorkflowSignals;
import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Signals from the Kafka topic {@code fleet.signals} (one node group: each record is handled by one
 * node). A record's value is {@code {"type": "signal", "version": 1, "signalId": "...", "name":
 * "...", "params": {...}, "time": "..."}}; without a signalId the record's topic, partition and
 * offset are the id, so a redelivered record is the same signal.
 *
 * <p>At least once: the offset is committed after {@link WorkflowSignals#publish} finished; a
 * publish that fails (database, engine) fails the stream, which restarts from the last commit with
 * backoff, and the redelivered signals start nothing twice. A record that is not a valid signal is
 * counted ({@code fleetplane_workflows_signals_rejected{reason}}), logged and skipped: it can never
 * get better, and it must not stop the topic.
 */
final class SignalsKafkaSource {

  private static final Logger log = LoggerFactory.getLogger(SignalsKafkaSource.class);

  /** fleetplane.workflows.signals.kafka */
  record Settings(boolean enabled, String topic, String groupId, Duration minBackoff, Duration maxBackoff) {
    static Settings fromConfig(Config config) {
      Config c = config.getConfig("fleetplane.workflows.signals.kafka");
      return new Settings(c.getBoolean("enabled"), c.getString("topic"), c.getString("consumer-group-id"),
          c.getDuration("restart-min-backoff"), c.getDuration("restart-max-backoff"));
    }
  }

  private final AtomicReference<Consumer.Control> control;

  private SignalsKafkaSource(AtomicReference<Consumer.Control> control) {
    this.control = control;
  }

  static SignalsKafkaSource start(ActorSystem<?> system, WorkflowSignals signals, KafkaSettings kafka,
      Settings settings) {
    ConsumerSettings<String, byte[]> consumer = ConsumerSettings.create(system, new StringDeserializer(),
            new ByteArrayDeserializer())
        .withBootstrapServers(kafka.bootstrapServers())
        .withProperties(kafka.clientProperties())
        .withGroupId(settings.groupId())
        .withProperty(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest")
        .withProperty(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false")
        .withStopTimeout(Duration.ZERO);
    AtomicReference<Consumer.Control> control = new AtomicReference<>(Consumer.createNoopControl());
    RestartSource.onFailuresWithBackoff(RestartSettings.create(settings.minBackoff(), settings.maxBackoff(), 0.2),
            () -> Consumer.committableSource(consumer, Subscriptions.topics(settings.topic()))
                .mapMaterializedValue(c -> {
                  control.set(c);
                  return c;
                })
                // One at a time: signals are rare next to device events, and order within the topic is kept.
                .mapAsync(1, message -> handle(signals, message))
                .via(Committer.flow(CommitterSettings.create(system))))
        .runWith(Sink.ignore(), system);
    log.info("Signals consumer started: topic {}, group {}", settings.topic(), settings.groupId());
    return new SignalsKafkaSource(control);
  }

  CompletionStage<Done> stop() {
    return control.get().shutdown();
  }

  private static CompletionStage<CommittableOffset> handle(WorkflowSignals signals,
      CommittableMessage<String, byte[]> message) {
    ConsumerRecord<String, byte[]> record = message.record();
    Signal signal;
    try {
      signal = parse(signals, record);
    } catch (RuntimeException e) {
      String reason = e instanceof WorkflowSignals.InvalidSignalException ? "invalid" : "malformed";
      Metrics.increment("fleetplane_workflows_signals_rejected", Map.of("reason", reason));
      log.warn("Skipping record {}-{}@{}: not a signal ({})", record.topic(), record.partition(), record.offset(),
          e.getMessage());
      return CompletableFuture.completedFuture(message.committableOffset());
    }
    return signals.publish(signal).thenApply(published -> message.committableOffset());
  }

  static Signal parse(WorkflowSignals signals, ConsumerRecord<String, byte[]> record) {
    JsonNode json;
    try {
      json = Json.MAPPER.readTree(record.value());
    } catch (java.io.IOException e) {
      throw new IllegalArgumentException("the value is not JSON");
    }
    if (json == null || !json.isObject() || !"signal".equals(json.path("type").asText())
        || json.path("version").asInt(-1) != 1) {
      throw new IllegalArgumentException("the value is not {\"type\": \"signal\", \"version\": 1, ...}");
    }
    if (!json.path("name").isTextual() || (json.has("params") && !json.get("params").isObject())
        || (json.has("signalId") && !json.get("signalId").isTextual())) {
      throw new WorkflowSignals.InvalidSignalException(WorkflowSignals.INVALID, "name",
          "name is a string, params an object, signalId a string");
    }
    Optional<Instant> time;
    try {
      time = json.hasNonNull("time") ? Optional.of(Instant.parse(json.get("time").asText())) : Optional.empty();
    } catch (java.time.format.DateTimeParseException e) {
      throw new WorkflowSignals.InvalidSignalException(WorkflowSignals.INVALID, "time", "time is an ISO-8601 instant");
    }
    Map<String, JsonNode> params = new LinkedHashMap<>();
    json.path("params").fields().forEachRemaining(f -> params.put(f.getKey(), f.getValue()));
    String id = json.hasNonNull("signalId") ? json.get("signalId").textValue()
        : "kafka:" + record.topic() + ":" + record.partition() + ":" + record.offset();
    return signals.signal(Optional.of(id), json.get("name").textValue(), params, time, "kafka");
  }
}
