package io.fleetplane.http.commands;

import akka.Done;
import akka.actor.Cancellable;
import akka.actor.typed.ActorSystem;
import akka.japi.Pair;
import akka.kafka.CommitterSettings;
import akka.kafka.ConsumerMessage;
import akka.kafka.ConsumerSettings;
import akka.kafka.ProducerSettings;
import akka.kafka.Subscriptions;
import akka.kafka.javadsl.Committer;
import akka.kafka.javadsl.Consumer;
import akka.kafka.javadsl.SendProducer;
import akka.stream.KillSwitches;
import akka.stream.RestartSettings;
import akka.stream.UniqueKillSwitch;
import akka.stream.javadsl.Keep;
import akka.stream.javadsl.RestartSource;
import akka.stream.javadsl.Sink;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fleetplane.bridge.command.CommandBridgeSettings;
import io.fleetplane.bridge.command.domain.CommandReply;
import io.fleetplane.bridge.command.domain.DeviceCommand;
import io.fleetplane.bridge.command.domain.ReplyError;
import io.fleetplane.config.KafkaHeaders;
import io.fleetplane.config.KafkaSettings;
import io.fleetplane.config.LogIds;
import io.fleetplane.config.metrics.Metrics;
import io.fleetplane.persistence.PersistenceSettings;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;

/**
 * The node's side of commands to devices: sends a command record to {@code fleet.device-commands}
 * (the {@code CommandBridge} publishes it over MQTT), keeps its state in {@link CommandStore}, and
 * runs this node's one replies consumer on {@code fleet.device-command-replies}.
 *
 * <p>Every node consumes every reply (its own consumer group, {@code replies-group-id}), because
 * the HTTP request waiting for a reply may be on any node: each reply settles the stored command
 * (idempotently: only a pending row changes) and wakes this node's waiter, if any. Offsets are
 * committed after the store took the reply, so a node that was down catches up on restart. A
 * periodic sweep times out commands that got no reply at all (a crashed bridge loses its pending
 * commands) and deletes expired ones.
 */
public final class DeviceCommands {

  private static final Logger log = LoggerFactory.getLogger(DeviceCommands.class);

  /** Commands by outcome: sent, replied, timed-out, rejected (tag {@code outcome}). */
  public static final String METRIC_COMMANDS = "fleetplane_api_commands";
  /** Reply records consumed, by {@code result}: settled, already-settled (or not the API's), invalid. */
  public static final String METRIC_REPLIES = "fleetplane_api_command_replies";
  public static final String METRIC_WAITING = "fleetplane_api_command_waiters";
  public static final String METRIC_RESTARTS = "fleetplane_api_command_replies_restarts";

  private final CommandSettings settings;
  private final CommandBridgeSettings topics;
  private final CommandStore store;
  private final ReplyWaiters waiters;
  private final SendProducer<String, byte[]> producer;
  private final AtomicReference<Consumer.Control> control = new AtomicReference<>(Consumer.createNoopControl());
  private final UniqueKillSwitch killSwitch;
  private final CompletionStage<Done> streamDone;
  private final Cancellable sweep;

  private DeviceCommands(ActorSystem<?> system, CommandSettings settings, CommandBridgeSettings topics,
      KafkaSettings kafka, PersistenceSettings db) {
    this.settings = settings;
    this.topics = topics;
    this.store = new CommandStore(db, settings, new ObjectMapper());
    this.waiters = new ReplyWaiters(settings.maxWaiting());
    this.producer = new SendProducer<>(ProducerSettings.create(system, new StringSerializer(), new ByteArraySerializer())
        .withBootstrapServers(kafka.bootstrapServers())
        .withProperties(kafka.clientProperties())
        .withProperty(ProducerConfig.ACKS_CONFIG, "all")
        .withProperty(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true")
        // A request waits for the send: fail it within seconds when Kafka is away, not minutes.
        .withProperty(ProducerConfig.MAX_BLOCK_MS_CONFIG, "5000")
        .withProperty(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, "5000")
        .withProperty(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "10000"), system);
    Pair<UniqueKillSwitch, CompletionStage<Done>> running = startConsumer(system, kafka);
    this.killSwitch = running.first();
    this.streamDone = running.second();
    this.sweep = system.scheduler().scheduleWithFixedDelay(settings.sweepInterval(), settings.sweepInterval(),
        this::sweepOnce, system.executionContext());
  }

  public static DeviceCommands start(ActorSystem<?> system, com.typesafe.config.Config config, KafkaSettings kafka,
      PersistenceSettings db) {
    CommandSettings settings = CommandSettings.fromConfig(config);
    DeviceCommands commands = new DeviceCommands(system, settings, CommandBridgeSettings.fromConfig(config), kafka, db);
    log.info("Command API started: replies from {} as group {}, at most {} waiting", commands.topics.repliesTopic(),
        settings.repliesGroupId(), settings.maxWaiting());
    return commands;
  }

  public CommandSettings settings() {
    return settings;
  }

  public CommandStore store() {
    return store;
  }

  public ReplyWaiters waiters() {
    return waiters;
  }

  /** The largest command record the bridge accepts (bigger ones it dead-letters unanswered). */
  public int maxRecordBytes() {
    return topics.maxCommandBytes();
  }

  /** Produces the command record; completes when Kafka acknowledged it. */
  public CompletionStage<Done> send(DeviceCommand command, byte[] record) {
    ProducerRecord<String, byte[]> kafkaRecord = new ProducerRecord<>(topics.commandsTopic(), command.sessionKey(), record);
    kafkaRecord.headers().add(KafkaHeaders.COMMAND_ID, command.commandId().value().getBytes(StandardCharsets.UTF_8));
    return producer.send(kafkaRecord).thenApply(metadata -> {
      Metrics.increment(METRIC_COMMANDS, Map.of("outcome", "sent"));
      return Done.getInstance();
    });
  }

  /** Graceful stop: stop consuming (committing what was handled), then close Kafka and the store. */
  public CompletionStage<Done> stop() {
    sweep.cancel();
    return control.get().stop()
        .thenCompose(d -> streamDone.toCompletableFuture().completeOnTimeout(Done.getInstance(), 5, TimeUnit.SECONDS))
        .handle((d, e) -> {
          killSwitch.shutdown();
          return control.get().shutdown();
        })
        .thenCompose(d -> d)
        .thenCompose(d -> producer.close())
        .handle((d, e) -> {
          store.close();
          return Done.getInstance();
        });
  }

  private Pair<UniqueKillSwitch, CompletionStage<Done>> startConsumer(ActorSystem<?> system, KafkaSettings kafka) {
    ConsumerSettings<String, byte[]> consumerSettings =
        ConsumerSettings.create(system, new StringDeserializer(), new ByteArrayDeserializer())
            .withBootstrapServers(kafka.bootstrapServers())
            .withProperties(kafka.clientProperties())
            .withGroupId(settings.repliesGroupId())
            // A new node reads the topic from the start: settling a row twice is harmless, and no
            // reply produced before its partitions were assigned is missed.
            .withProperty(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest")
            .withStopTimeout(Duration.ZERO);
    CommitterSettings committer = CommitterSettings.create(system);
    RestartSettings restart = RestartSettings.create(settings.minBackoff(), settings.maxBackoff(), 0.2);
    AtomicInteger generation = new AtomicInteger();
    return RestartSource.onFailuresWithBackoff(restart, () -> {
          if (generation.incrementAndGet() > 1) {
            Metrics.increment(METRIC_RESTARTS);
            log.warn("Command replies consumer restarting from the last committed offsets");
          }
          return Consumer.committableSource(consumerSettings, Subscriptions.topics(topics.repliesTopic()))
              .mapMaterializedValue(c -> {
                control.set(c);
                return c;
              })
              .mapAsync(4, this::handleReply)
              .via(Committer.flow(committer))
              .watchTermination((mat, done) -> {
                done.whenComplete((d, error) -> {
                  if (error != null) {
                    log.error("Command replies consumer failed: {}", error.toString());
                  }
                });
                return mat;
              });
        })
        .viaMat(KillSwitches.single(), Keep.right())
        .toMat(Sink.ignore(), Keep.both())
        .run(system);
  }

  private CompletionStage<ConsumerMessage.Committable> handleReply(
      ConsumerMessage.CommittableMessage<String, byte[]> message) {
    CommandReply reply;
    try {
      reply = CommandReply.parse(message.record().value());
    } catch (IllegalArgumentException e) {
      // Not ours to fix and never readable: skip it rather than stop every reply behind it.
      Metrics.increment(METRIC_REPLIES, Map.of("result", "invalid"));
      log.warn("Skipping unreadable record {}-{}@{} on {}: {}", message.record().topic(), message.record().partition(),
          message.record().offset(), topics.repliesTopic(), e.getMessage());
      return CompletableFuture.completedFuture(message.committableOffset());
    }
    // A store failure fails the stream: it restarts from the committed offset and retries.
    return store.complete(reply.commandId().value(), outcome(reply)).thenApply(settled -> {
      boolean woken = waiters.complete(reply);
      Metrics.increment(METRIC_REPLIES, Map.of("result", settled ? "settled" : "already-settled"));
      if (settled) {
        Metrics.increment(METRIC_COMMANDS, Map.of("outcome", outcomeTag(reply)));
      }
      withIds(reply, () -> log.debug("Command {} of session {}: {} from {}{}", reply.commandId(),
          reply.deviceSessionId(), reply.status(), reply.source().wire(), woken ? " (request waiting here)" : ""));
      return message.committableOffset();
    });
  }

  static String outcomeTag(CommandReply reply) {
    return switch (reply.status()) {
      case TIMED_OUT -> "timed-out";
      case REJECTED -> reply.source() == CommandReply.Source.BRIDGE ? "rejected" : "replied";
      default -> "replied";
    };
  }

  /** A reply record as the stored outcome. */
  public static StoredCommand.Outcome outcome(CommandReply reply) {
    return new StoredCommand.Outcome(reply.status().wire(), reply.result(), reply.error().map(ReplyError::code),
        reply.error().map(ReplyError::message), reply.source().wire(), Instant.ofEpochMilli(reply.ts()),
        reply.deviceTs());
  }

  private void sweepOnce() {
    Metrics.gauge(METRIC_WAITING, Map.of(), waiters.waiting());
    store.sweep(settings.replyGrace(), settings.retention(), Instant.now()).whenComplete((counts, error) -> {
      if (error != null) {
        log.warn("Command sweep failed (retried next interval): {}", error.toString());
      } else if (counts[0] > 0 || counts[1] > 0) {
        if (counts[0] > 0) {
          Metrics.increment(METRIC_COMMANDS, counts[0], Map.of("outcome", "timed-out"));
        }
        log.info("Command sweep: {} pending command(s) timed out without any reply, {} expired", counts[0], counts[1]);
      }
    });
  }

  private static void withIds(CommandReply reply, Runnable logging) {
    MDC.put(LogIds.DEVICE_SESSION_ID, reply.deviceSessionId().value());
    MDC.put(LogIds.COMMAND_ID, reply.commandId().value());
    try {
      logging.run();
    } finally {
      MDC.remove(LogIds.DEVICE_SESSION_ID);
      MDC.remove(LogIds.COMMAND_ID);
    }
  }
}
