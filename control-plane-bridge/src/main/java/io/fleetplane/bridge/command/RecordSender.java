package io.fleetplane.bridge.command;

import akka.Done;
import akka.actor.typed.ActorSystem;
import akka.kafka.ProducerSettings;
import akka.kafka.javadsl.SendProducer;
import io.fleetplane.config.metrics.Metrics;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The command bridge's one Kafka producer (Alpakka {@link SendProducer}: idempotent,
 * {@code acks=all}), used two ways:
 * <ul>
 *   <li>{@link #send}: once, for records produced inside the consumer stream (dead letters,
 *       rejections); a failure fails the stream, which restarts and Kafka redelivers the command;
 *   <li>{@link #sendUntilAcknowledged}: retried with backoff until Kafka takes it, for replies
 *       that exist only in memory (a device's answer, a timeout) and would otherwise be lost.
 * </ul>
 */
final class RecordSender {

  private static final Logger log = LoggerFactory.getLogger(RecordSender.class);

  private final ActorSystem<?> system;
  private final SendProducer<String, byte[]> producer;
  private final Duration minBackoff;
  private final Duration maxBackoff;
  private final AtomicBoolean closed = new AtomicBoolean();
  private final AtomicInteger retrying = new AtomicInteger();
  private final AtomicReference<String> lastError = new AtomicReference<>();

  RecordSender(ActorSystem<?> system, ProducerSettings<String, byte[]> settings, Duration minBackoff,
      Duration maxBackoff) {
    this.system = system;
    this.producer = new SendProducer<>(settings, system);
    this.minBackoff = minBackoff;
    this.maxBackoff = maxBackoff;
  }

  CompletionStage<Done> send(ProducerRecord<String, byte[]> record) {
    return producer.send(record).thenApply(metadata -> {
      lastError.set(null);
      return Done.getInstance();
    });
  }

  /**
   * Sends until Kafka acknowledges, backing off between attempts. Completes exceptionally only
   * when the sender is closed before that (the bridge stopped), which the caller logs as a loss.
   */
  CompletionStage<Done> sendUntilAcknowledged(ProducerRecord<String, byte[]> record, String what) {
    CompletableFuture<Done> done = new CompletableFuture<>();
    attempt(record, what, 0, done);
    return done;
  }

  /** False while records are being retried, with the last error. */
  boolean healthy() {
    return retrying.get() == 0 && lastError.get() == null;
  }

  String lastError() {
    return lastError.get();
  }

  CompletionStage<Done> close() {
    closed.set(true);
    return producer.close();
  }

  private void attempt(ProducerRecord<String, byte[]> record, String what, int attempt,
      CompletableFuture<Done> done) {
    if (closed.get()) {
      if (attempt > 0) {
        retrying.decrementAndGet();
      }
      done.completeExceptionally(new IllegalStateException("the Kafka producer is closed"));
      return;
    }
    producer.send(record).whenComplete((metadata, error) -> {
      if (error == null) {
        if (attempt > 0) {
          retrying.decrementAndGet();
          log.info("Kafka took {} after {} retries", what, attempt);
        }
        lastError.set(null);
        done.complete(Done.getInstance());
        return;
      }
      if (attempt == 0) {
        retrying.incrementAndGet();
      }
      lastError.set(error.toString());
      Metrics.increment(CommandMetrics.REPLY_RETRIES);
      Duration backoff = backoff(attempt);
      log.warn("Kafka refused {} ({}); retrying in {} ms", what, error.toString(), backoff.toMillis());
      system.scheduler().scheduleOnce(backoff, () -> attempt(record, what, attempt + 1, done),
          system.executionContext());
    });
  }

  private Duration backoff(int attempt) {
    long min = minBackoff.toMillis();
    long exponential = min << Math.min(attempt, 20);
    long capped = Math.min(maxBackoff.toMillis(), exponential);
    return Duration.ofMillis(capped + ThreadLocalRandom.current().nextLong(Math.max(1, capped / 5)));
  }
}
