package io.fleetplane.bridge.command;

import akka.Done;
import akka.actor.Cancellable;
import akka.actor.typed.ActorSystem;
import akka.event.Logging;
import akka.japi.Pair;
import akka.kafka.CommitterSettings;
import akka.kafka.ConsumerMessage;
import akka.kafka.ConsumerSettings;
import akka.kafka.ProducerSettings;
import akka.kafka.Subscriptions;
import akka.kafka.javadsl.Committer;
import akka.kafka.javadsl.Consumer;
import akka.stream.KillSwitches;
import akka.stream.RestartSettings;
import akka.stream.UniqueKillSwitch;
import akka.stream.javadsl.Keep;
import akka.stream.javadsl.RestartSource;
import akka.stream.javadsl.Sink;
import io.fleetplane.bridge.command.CommandMqttLink.Refused;
import io.fleetplane.bridge.command.domain.BridgeErrorCodes;
import io.fleetplane.bridge.command.domain.CommandRecordParser;
import io.fleetplane.bridge.command.domain.CommandReply;
import io.fleetplane.bridge.command.domain.CommandStatus;
import io.fleetplane.bridge.command.domain.DeviceCommand;
import io.fleetplane.bridge.command.domain.DeviceReply;
import io.fleetplane.bridge.command.domain.DeviceReplyParser;
import io.fleetplane.bridge.command.domain.MqttCommandPayload;
import io.fleetplane.bridge.command.domain.PendingCommands;
import io.fleetplane.bridge.command.domain.PendingCommands.Pending;
import io.fleetplane.config.ErrorCode;
import io.fleetplane.config.KafkaHeaders;
import io.fleetplane.config.KafkaSettings;
import io.fleetplane.config.metrics.Metrics;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.eclipse.paho.mqttv5.common.MqttMessage;
import org.eclipse.paho.mqttv5.common.packet.MqttProperties;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The cloud-to-device half of the control-plane bridge: delivers each command record of
 * {@code fleet.device-commands} to its device over MQTT and produces exactly one final reply per
 * command to {@code fleet.device-command-replies}: the device's ({@code succeeded}, {@code failed},
 * {@code rejected}) or the bridge's own ({@code timed-out}, {@code rejected}). The wire formats are
 * in docs/protocol.md section 8.
 *
 * <p><b>Delivery.</b> A command's offset is committed only after the broker acknowledged its
 * publish (PUBACK), or after its dead letter or bridge reply was produced: at-least-once from
 * Kafka to the broker. Commands are consumed in partition order and published in that order on
 * one connection, so one session's commands reach its device in the order they were issued.
 * A command Kafka redelivers (after a stream restart) is recognised by id and not published
 * twice while this bridge remembers it ({@code remembered-outcomes}); devices must still treat
 * {@code commandId} as idempotent, because after a crash nothing is remembered.
 *
 * <p><b>Replies.</b> Correlated by id (MQTT 5 correlation data, or the payload's
 * {@code commandId}), checked against the session of the topic they came on, produced to Kafka
 * with retries, and acknowledged to the broker only after Kafka took them. Malformed, unknown,
 * duplicate and late replies are counted and dropped (rate-limited WARN).
 *
 * <p><b>Pending commands and restarts.</b> Pending commands and their deadlines live in this
 * process only ({@link PendingCommands}, bounded by {@code max-pending}). A restart of the Kafka
 * stream keeps them. A graceful {@link #stop()} waits up to {@code shutdown-timeout} for their
 * replies and then answers every one still pending with {@code timed-out} /
 * {@code command.bridge-stopped}, so no issuer waits forever. A crash loses them: their devices'
 * replies then arrive at the next bridge as unknown and are dropped, and no timed-out reply is
 * sent. That is the price of keeping the bridge stateless; an issuer must therefore treat a
 * command with no reply by {@code ts + timeoutMs} (plus a grace period) as timed out itself, which
 * it can, because both are in the command record.
 *
 * <p><b>Supervision.</b> The consumer stream restarts with backoff on failure (a failed publish
 * fails it on purpose, so that Kafka redelivers); the MQTT client reconnects by itself with a
 * persistent session and subscribes again; reply records are retried with backoff.
 */
public final class CommandBridge {

  private static final Logger log = LoggerFactory.getLogger(CommandBridge.class);
  private static final Duration WARN_INTERVAL = Duration.ofSeconds(10);
  private static final Duration FINAL_REPLIES_TIMEOUT = Duration.ofSeconds(5);

  private final ActorSystem<?> system;
  private final CommandBridgeSettings settings;
  private final KafkaSettings kafka;
  private final CommandRecordParser commandParser;
  private final DeviceReplyParser replyParser;
  private final PendingCommands pending;
  private final RecordSender sender;
  private final CommandMqttLink mqtt;
  private final io.fleetplane.bridge.RateLimitedLog warnings = new io.fleetplane.bridge.RateLimitedLog(log, WARN_INTERVAL);

  private final AtomicReference<Consumer.Control> control =
      new AtomicReference<>(Consumer.createNoopControl());
  private final AtomicInteger generation = new AtomicInteger();
  private final AtomicReference<String> consumerFailure = new AtomicReference<>();
  private final AtomicBoolean stopping = new AtomicBoolean();
  private final CompletableFuture<Done> stopped = new CompletableFuture<>();
  // Set once by start(), read by stop() on another thread.
  private volatile UniqueKillSwitch killSwitch;
  private volatile CompletionStage<Done> streamDone =
      CompletableFuture.completedFuture(Done.getInstance());
  private volatile Cancellable sweep;

  private CommandBridge(ActorSystem<?> system, CommandBridgeSettings settings, KafkaSettings kafka) {
    this.system = system;
    this.settings = settings;
    this.kafka = kafka;
    this.commandParser = new CommandRecordParser(settings.maxCommandBytes(),
        settings.defaultTimeout(), settings.maxTimeout());
    this.replyParser = new DeviceReplyParser(settings.maxReplyBytes());
    this.pending = new PendingCommands(settings.maxPending(), settings.rememberedOutcomes());
    this.sender = new RecordSender(system, producerSettings(), settings.minBackoff(),
        settings.maxBackoff());
    this.mqtt = new CommandMqttLink(settings, this::onReply);
  }

  /**
   * Connects to the broker and subscribes to replies, then starts consuming commands (so that no
   * command is published before its reply can be received). Completes with the running bridge,
   * or fails with what to fix when the broker refuses the connection or the subscription.
   */
  public static CompletionStage<CommandBridge> start(
      ActorSystem<?> system, CommandBridgeSettings settings, KafkaSettings kafka) {
    CommandBridge bridge = new CommandBridge(system, settings, kafka);
    return bridge.mqtt.connect().handle((done, error) -> {
      if (error != null) {
        bridge.mqtt.close();
        bridge.sender.close();
        throw error instanceof CompletionException c ? c : new CompletionException(error);
      }
      bridge.startSweep();
      bridge.startConsumer();
      log.info("Command bridge {} started: {}", settings.instanceId(), settings);
      return bridge;
    });
  }

  /** What the health endpoint reports about the command bridge. */
  public record Health(boolean mqttConnected, boolean kafkaHealthy, int pending, String detail) {
    public boolean healthy() {
      return mqttConnected && kafkaHealthy;
    }
  }

  public Health health() {
    boolean connected = mqtt.isConnected();
    String failure = consumerFailure.get();
    boolean kafkaOk = failure == null && sender.healthy();
    String detail = !connected ? "not connected to MQTT broker " + settings.mqttServerUri()
        : failure != null ? "command stream restarting after: " + failure
        : !sender.healthy() ? "Kafka refuses reply records: " + sender.lastError()
        : "ok";
    return new Health(connected, kafkaOk, pending.pending(), detail);
  }

  /**
   * Graceful stop: stop consuming (what was consumed is published and committed), wait up to
   * {@code shutdown-timeout} for pending replies, answer what is still pending with
   * {@code timed-out} / {@code command.bridge-stopped}, then disconnect. Idempotent.
   */
  public CompletionStage<Done> stop() {
    if (!stopping.compareAndSet(false, true)) {
      return stopped;
    }
    log.info("Command bridge {} stopping: {} command(s) pending", settings.instanceId(),
        pending.pending());
    long deadline = System.nanoTime() + settings.shutdownTimeout().toNanos();
    Consumer.Control current = control.get();
    current.stop()
        .thenCompose(d -> streamDone)
        .toCompletableFuture()
        .completeOnTimeout(Done.getInstance(), settings.shutdownTimeout().toMillis(),
            TimeUnit.MILLISECONDS)
        .handle((d, e) -> {
          if (killSwitch != null) {
            killSwitch.shutdown();
          }
          return current.shutdown();
        })
        .thenCompose(d -> awaitOutstanding(deadline))
        .thenCompose(d -> settleRemaining())
        .whenComplete((d, e) -> {
          if (sweep != null) {
            sweep.cancel();
          }
          mqtt.close();
          sender.close().whenComplete((closed, error) -> {
            log.info("Command bridge {} stopped", settings.instanceId());
            stopped.complete(Done.getInstance());
          });
        });
    return stopped;
  }

  // ---------------------------------------------------------------------------------------------
  // Commands: Kafka -> MQTT

  private void startConsumer() {
    ConsumerSettings<String, byte[]> consumerSettings =
        ConsumerSettings.create(system, new StringDeserializer(), new ByteArrayDeserializer())
            .withBootstrapServers(kafka.bootstrapServers())
            .withProperties(kafka.clientProperties())
            .withGroupId(settings.consumerGroupId())
            .withClientId("fleetplane-commands-" + settings.instanceId())
            .withProperty(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, settings.autoOffsetReset())
            // stop() drains the stream itself before shutting the consumer down (STACK.md trap 3).
            .withStopTimeout(Duration.ZERO);
    CommitterSettings committerSettings =
        CommitterSettings.create(system).withMaxInterval(settings.commitInterval());
    RestartSettings restart =
        RestartSettings.create(settings.minBackoff(), settings.maxBackoff(), 0.2)
            // The failure is logged once below, without Akka's stack trace per restart.
            .withLogSettings(RestartSettings.createLogSettings(Logging.DebugLevel()));

    Pair<UniqueKillSwitch, CompletionStage<Done>> running = RestartSource.onFailuresWithBackoff(
            restart, () -> {
              int gen = generation.incrementAndGet();
              return Consumer.committableSource(
                      consumerSettings, Subscriptions.topics(settings.commandsTopic()))
                  .mapMaterializedValue(c -> {
                    control.set(c);
                    if (gen > 1) {
                      log.warn("Command bridge {}: command stream restarted (generation {}); Kafka"
                          + " redelivers what was not committed", settings.instanceId(), gen);
                    }
                    return c;
                  })
                  .mapAsync(settings.maxParallelPublishes(), this::handle)
                  .via(Committer.flow(committerSettings))
                  .watchTermination((mat, done) -> {
                    done.whenComplete((d, error) -> {
                      if (error != null) {
                        Metrics.increment(CommandMetrics.STREAM_FAILURES);
                        consumerFailure.set(error.toString());
                        log.error("Command bridge {}: command stream failed, restarting with "
                            + "backoff: {}", settings.instanceId(), error.toString());
                      }
                    });
                    return mat;
                  });
            })
        .viaMat(KillSwitches.single(), Keep.right())
        .toMat(Sink.ignore(), Keep.both())
        .run(system);
    killSwitch = running.first();
    streamDone = running.second();
  }

  private CompletionStage<ConsumerMessage.Committable> handle(
      ConsumerMessage.CommittableMessage<String, byte[]> message) {
    ConsumerRecord<String, byte[]> record = message.record();
    Metrics.increment(CommandMetrics.COMMANDS_IN);
    CompletionStage<Done> handled;
    try {
      CommandRecordParser.Parsed parsed = commandParser.parse(record.key(), record.value(),
          CommandRecordParser.headerText(lastHeader(record, KafkaHeaders.COMMAND_ID)));
      handled = parsed instanceof CommandRecordParser.Valid valid
          ? dispatch(valid.command(), System.currentTimeMillis())
          : deadLetter(record, (CommandRecordParser.Invalid) parsed);
    } catch (RuntimeException bug) {
      // Only asynchronous failures (publish, Kafka) restart the stream: a record that throws
      // here would throw again after every restart and stop the partition for good.
      log.error("Command bridge {}: handling record {}-{}@{} failed; dead-lettering it",
          settings.instanceId(), record.topic(), record.partition(), record.offset(), bug);
      handled = deadLetter(record, new CommandRecordParser.Invalid(ErrorCode.INTERNAL,
          "the bridge failed on this record: " + bug, Optional.empty()));
    }
    return handled.thenApply(done -> {
      consumerFailure.set(null);
      return message.committableOffset();
    });
  }

  private CompletionStage<Done> dispatch(DeviceCommand command, long now) {
    long deadline = command.deadline(now);
    try (LogContext ids = ids(command)) {
      if (deadline <= now) {
        pending.recordSettled(command.commandId(), PendingCommands.Outcome.TIMED_OUT);
        Metrics.increment(CommandMetrics.TIMED_OUT, Map.of("stage", "before-delivery"));
        String why = "the deadline passed " + (now - deadline) + " ms before the bridge could "
            + "deliver the command (ts " + command.ts() + ", timeoutMs " + command.timeoutMs() + ")";
        log.info("Command {} '{}' expired undelivered: {}", command.commandId(), command.name(), why);
        return sender.send(replyRecord(CommandReply.fromBridge(command, CommandStatus.TIMED_OUT,
            BridgeErrorCodes.EXPIRED, why, now)));
      }
      PendingCommands.Admission admission = pending.admit(command, deadline, now);
      if (admission instanceof PendingCommands.Duplicate duplicate) {
        Metrics.increment(CommandMetrics.DUPLICATES);
        log.info("Command {} redelivered by Kafka and {}: not published again",
            command.commandId(), duplicate.stillPending() ? "still pending" : "already "
                + duplicate.outcome().name().toLowerCase(Locale.ROOT));
        return CompletableFuture.completedFuture(Done.getInstance());
      }
      if (admission instanceof PendingCommands.Full full) {
        pending.recordSettled(command.commandId(), PendingCommands.Outcome.REJECTED);
        Metrics.increment(CommandMetrics.REJECTED,
            Map.of("reason", BridgeErrorCodes.TOO_MANY_PENDING));
        String why = full.outstanding() + " commands are pending on bridge "
            + settings.instanceId() + " (max-pending " + settings.maxPending() + "); retry later";
        warnings.warn(BridgeErrorCodes.TOO_MANY_PENDING, "Rejecting command {}: {}",
            command.commandId(), why);
        return sender.send(replyRecord(CommandReply.fromBridge(command, CommandStatus.REJECTED,
            BridgeErrorCodes.TOO_MANY_PENDING, why, now)));
      }
      return publish(((PendingCommands.Admitted) admission).pending(), now);
    }
  }

  private CompletionStage<Done> publish(Pending admitted, long now) {
    DeviceCommand command = admitted.command();
    MqttProperties properties = new MqttProperties();
    properties.setResponseTopic(command.replyTopic());
    properties.setCorrelationData(command.commandId().value().getBytes(StandardCharsets.UTF_8));
    // The broker drops the command for a device that is offline past the deadline.
    properties.setMessageExpiryInterval(Math.max(1, (admitted.deadline() - now + 999) / 1000));
    properties.setContentType("application/json");
    properties.setPayloadFormat(true);
    byte[] payload = MqttCommandPayload.encode(command, admitted.deadline());
    // Waiting for the link (bounded by publish-timeout) rides out a broker reconnect without
    // restarting the stream; a longer outage fails it, and Kafka redelivers after the backoff.
    return mqtt.whenReady()
        .thenCompose(ready -> mqtt.publish(command.commandTopic(), payload, properties))
        .toCompletableFuture()
        .orTimeout(settings.publishTimeout().toMillis(), TimeUnit.MILLISECONDS)
        .handle((outcome, error) -> {
          try (LogContext ids = ids(command)) {
            if (error != null) {
              pending.abandon(admitted);
              throw new CompletionException(new IllegalStateException("Publishing command "
                  + command.commandId() + " to '" + command.commandTopic() + "' failed ("
                  + error + "); the stream restarts and Kafka redelivers it", error));
            }
            if (outcome instanceof Refused refused) {
              pending.abandon(admitted);
              pending.recordSettled(command.commandId(), PendingCommands.Outcome.REJECTED);
              Metrics.increment(CommandMetrics.REJECTED,
                  Map.of("reason", BridgeErrorCodes.BROKER_REFUSED));
              String why = "the MQTT broker refused the publish to '" + command.commandTopic()
                  + "' with reason code 0x" + Integer.toHexString(refused.reasonCode())
                  + "; check the bridge user's ACL (write on fleet/rae/+/device/+/command)";
              warnings.warn(BridgeErrorCodes.BROKER_REFUSED, "Rejecting command {}: {}",
                  command.commandId(), why);
              return sender.send(replyRecord(CommandReply.fromBridge(command,
                  CommandStatus.REJECTED, BridgeErrorCodes.BROKER_REFUSED, why,
                  System.currentTimeMillis())));
            }
            Metrics.increment(CommandMetrics.PUBLISHED);
            log.debug("Command {} '{}' published to '{}'", command.commandId(), command.name(),
                command.commandTopic());
            return CompletableFuture.completedFuture(Done.getInstance());
          }
        })
        .thenCompose(next -> next);
  }

  private CompletionStage<Done> deadLetter(ConsumerRecord<String, byte[]> record,
      CommandRecordParser.Invalid invalid) {
    String code = invalid.reason().code();
    Metrics.increment(CommandMetrics.DEAD_LETTERS, Map.of("reason", code));
    warnings.warn("dead-letter-" + code, "Dead-lettering command record {}-{}@{} (key '{}'{}): {}",
        record.topic(), record.partition(), record.offset(), record.key(),
        invalid.commandId().map(id -> ", commandId " + id).orElse(""), invalid.detail());
    List<Header> headers = new ArrayList<>();
    headers.add(header(KafkaHeaders.ERROR_CODE, code));
    headers.add(header(KafkaHeaders.ERROR_DETAIL, invalid.detail()));
    headers.add(header(KafkaHeaders.REJECTED_BY, CommandHeaders.REJECTED_BY_COMMAND_BRIDGE));
    headers.add(header(KafkaHeaders.BRIDGE_INSTANCE, settings.instanceId()));
    headers.add(header(KafkaHeaders.SOURCE_TOPIC, record.topic()));
    headers.add(header(KafkaHeaders.SOURCE_PARTITION, Integer.toString(record.partition())));
    headers.add(header(KafkaHeaders.SOURCE_OFFSET, Long.toString(record.offset())));
    invalid.commandId().ifPresent(id -> headers.add(header(KafkaHeaders.COMMAND_ID, id.value())));
    return sender.send(new ProducerRecord<>(kafka.deadLettersTopic(), null, record.key(),
        record.value(), headers));
  }

  // ---------------------------------------------------------------------------------------------
  // Replies: MQTT -> Kafka (called on Paho's callback thread: nothing here blocks)

  private void onReply(String topic, MqttMessage message) {
    MqttProperties properties = message.getProperties();
    byte[] correlation = properties == null ? null : properties.getCorrelationData();
    DeviceReplyParser.Parsed parsed = replyParser.parse(topic, message.getPayload(), correlation);
    if (parsed instanceof DeviceReplyParser.Malformed malformed) {
      Metrics.increment(CommandMetrics.DROPPED_REPLIES, Map.of("reason", "malformed"));
      warnings.warn("malformed-" + malformed.problem().tag(),
          "Dropping malformed command reply on '{}': {}", topic, malformed.detail());
      mqtt.acknowledge(message.getId(), message.getQos());
      return;
    }
    DeviceReply reply = ((DeviceReplyParser.Valid) parsed).reply();
    PendingCommands.Match match = pending.matchReply(reply.commandId(), reply.session());
    try (LogContext ids = LogContext.of(reply.session().raeSerial().value(),
        reply.session().deviceSessionId().value(), reply.commandId().value())) {
      if (match instanceof PendingCommands.Matched matched) {
        forward(matched.pending(), reply, message);
        return;
      }
      if (match instanceof PendingCommands.Late late) {
        Metrics.increment(CommandMetrics.LATE_REPLIES);
        log.info("Dropping late {} reply to command {}: it was already answered {} ",
            reply.status(), reply.commandId(), late.outcome() == PendingCommands.Outcome.TIMED_OUT
                ? "timed-out" : late.outcome().name().toLowerCase(Locale.ROOT));
      } else if (match instanceof PendingCommands.AlreadyAnswered) {
        Metrics.increment(CommandMetrics.DROPPED_REPLIES, Map.of("reason", "duplicate"));
        log.debug("Dropping duplicate reply to command {}", reply.commandId());
      } else if (match instanceof PendingCommands.WrongSession wrong) {
        Metrics.increment(CommandMetrics.DROPPED_REPLIES, Map.of("reason", "wrong-session"));
        warnings.warn("wrong-session", "Dropping reply to command {} that arrived on '{}': the "
            + "command belongs to session {} of RAE {}", reply.commandId(), topic,
            wrong.pending().command().deviceSessionId(), wrong.pending().command().raeSerial());
      } else {
        Metrics.increment(CommandMetrics.DROPPED_REPLIES, Map.of("reason", "unknown"));
        warnings.warn("unknown", "Dropping reply to unknown command {} on '{}' (from before a "
            + "bridge restart, another instance's, or made up)", reply.commandId(), topic);
      }
    }
    mqtt.acknowledge(message.getId(), message.getQos());
  }

  private void forward(Pending matched, DeviceReply reply, MqttMessage message) {
    long now = System.currentTimeMillis();
    DeviceCommand command = matched.command();
    Metrics.recordTime(CommandMetrics.ROUND_TRIP, Map.of(),
        Duration.ofMillis(Math.max(0, now - matched.admittedAt())));
    CommandReply record = CommandReply.fromDevice(command, reply, now);
    sender.sendUntilAcknowledged(replyRecord(record), "the reply to command " + command.commandId())
        .whenComplete((done, error) -> {
          pending.released();
          try (LogContext ids = ids(command)) {
            if (error == null) {
              Metrics.increment(CommandMetrics.REPLIES, Map.of("status", reply.status().wire()));
              log.debug("Command {} answered {} by the device", command.commandId(), reply.status());
              mqtt.acknowledge(message.getId(), message.getQos());
            } else {
              log.error("The {} reply to command {} was not produced before the bridge stopped: "
                  + "it stays unacknowledged with the broker", reply.status(), command.commandId());
            }
          }
        });
  }

  // ---------------------------------------------------------------------------------------------
  // Timeouts

  private void startSweep() {
    Duration every = settings.timeoutCheckInterval();
    sweep = system.scheduler().scheduleWithFixedDelay(every, every, this::expireDue,
        system.executionContext());
  }

  private void expireDue() {
    try {
      for (Pending expired : pending.expire(System.currentTimeMillis())) {
        settleTimedOut(expired, BridgeErrorCodes.TIMED_OUT, "no reply from the device within "
            + expired.command().timeoutMs() + " ms", "awaiting-reply");
      }
      Metrics.gauge(CommandMetrics.PENDING, Map.of(), pending.pending());
    } catch (RuntimeException e) {
      // Never let one bad round kill the periodic task: the next round retries.
      log.error("Command bridge {}: timeout sweep failed: {}", settings.instanceId(), e.toString(), e);
    }
  }

  private CompletionStage<Done> settleTimedOut(Pending expired, String code, String why,
      String stage) {
    DeviceCommand command = expired.command();
    Metrics.increment(CommandMetrics.TIMED_OUT, Map.of("stage", stage));
    try (LogContext ids = ids(command)) {
      log.info("Command {} '{}' timed out: {}", command.commandId(), command.name(), why);
    }
    CommandReply reply = CommandReply.fromBridge(command, CommandStatus.TIMED_OUT, code, why,
        System.currentTimeMillis());
    return sender.sendUntilAcknowledged(replyRecord(reply),
            "the timed-out reply to command " + command.commandId())
        .handle((done, error) -> {
          pending.released();
          if (error != null) {
            try (LogContext ids = ids(command)) {
              log.error("The timed-out reply to command {} was lost: the bridge stopped before "
                  + "Kafka took it ({})", command.commandId(), error.toString());
            }
          }
          return Done.getInstance();
        });
  }

  // ---------------------------------------------------------------------------------------------
  // Stopping

  /** Completes when nothing is pending or settling any more, or at {@code deadlineNanos}. */
  private CompletionStage<Done> awaitOutstanding(long deadlineNanos) {
    CompletableFuture<Done> done = new CompletableFuture<>();
    pollOutstanding(deadlineNanos, done);
    return done;
  }

  private void pollOutstanding(long deadlineNanos, CompletableFuture<Done> done) {
    if (pending.outstanding() == 0 || System.nanoTime() >= deadlineNanos) {
      done.complete(Done.getInstance());
      return;
    }
    system.scheduler().scheduleOnce(settings.timeoutCheckInterval(),
        () -> pollOutstanding(deadlineNanos, done), system.executionContext());
  }

  private CompletionStage<Done> settleRemaining() {
    List<Pending> remaining = pending.drainAll();
    if (!remaining.isEmpty()) {
      log.warn("Command bridge {} stopping with {} command(s) unanswered: replying timed-out ({})",
          settings.instanceId(), remaining.size(), BridgeErrorCodes.BRIDGE_STOPPED);
    }
    CompletableFuture<?>[] replies = remaining.stream()
        .map(p -> settleTimedOut(p, BridgeErrorCodes.BRIDGE_STOPPED,
            "the bridge stopped before the device replied; the device may still act on it",
            "bridge-stopped").toCompletableFuture())
        .toArray(CompletableFuture[]::new);
    return CompletableFuture.allOf(replies)
        .completeOnTimeout(null, FINAL_REPLIES_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)
        .thenApply(v -> Done.getInstance());
  }

  // ---------------------------------------------------------------------------------------------

  private ProducerRecord<String, byte[]> replyRecord(CommandReply reply) {
    List<Header> headers = List.of(
        header(KafkaHeaders.COMMAND_ID, reply.commandId().value()),
        header(KafkaHeaders.BRIDGE_INSTANCE, settings.instanceId()));
    return new ProducerRecord<>(settings.repliesTopic(), null, reply.sessionKey(), reply.toJson(),
        headers);
  }

  private ProducerSettings<String, byte[]> producerSettings() {
    return ProducerSettings.create(system, new StringSerializer(), new ByteArraySerializer())
        .withBootstrapServers(kafka.bootstrapServers())
        .withProperties(kafka.clientProperties())
        .withProperty(ProducerConfig.ACKS_CONFIG, "all")
        .withProperty(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true")
        .withProperty(ProducerConfig.LINGER_MS_CONFIG, "2")
        .withProperty(ProducerConfig.CLIENT_ID_CONFIG, "fleetplane-commands-" + settings.instanceId());
  }

  private static LogContext ids(DeviceCommand command) {
    return LogContext.of(command.raeSerial().value(), command.deviceSessionId().value(),
        command.commandId().value());
  }

  private static byte[] lastHeader(ConsumerRecord<?, ?> record, String key) {
    Header header = record.headers().lastHeader(key);
    return header == null ? null : header.value();
  }

  private static Header header(String key, String value) {
    return new RecordHeader(key, value.getBytes(StandardCharsets.UTF_8));
  }
}
