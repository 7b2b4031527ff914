package io.fleetplane.jobs.distribution;

import akka.Done;
import akka.actor.typed.ActorRef;
import akka.actor.typed.ActorSystem;
import akka.cluster.sharding.typed.javadsl.ClusterSharding;
import akka.japi.function.Function;
import akka.pattern.Patterns;
import io.fleetplane.config.LogIds;
import io.fleetplane.config.metrics.Metrics;
import io.fleetplane.jobs.distribution.DistributionWorkPool.Stage;
import io.fleetplane.jobs.distribution.DistributionWorkPool.Task;
import io.fleetplane.jobs.distribution.domain.DistributionSecrets;
import io.fleetplane.jobs.distribution.domain.WatermarkTemplate;
import io.fleetplane.jobs.distribution.notify.Notifier;
import io.fleetplane.jobs.distribution.notify.PushNotifier;
import io.fleetplane.jobs.distribution.store.DocumentStore;
import java.io.IOException;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;
import scala.concurrent.ExecutionContext;

/**
 * The steps of one item, each retried with backoff: {@code render} (load the source, watermark,
 * fingerprint, encrypt), {@code store} (the copy), {@code record} (the job persists the result),
 * {@code notify} (e-mail with link and password) and/or {@code push} (Kafka record, device
 * session), {@code record} again. A step that cannot succeed (corrupt source) or that keeps
 * failing ends as {@link DistributionJob.RecordFailed} with the step and reason; other items are
 * unaffected.
 */
final class DistributionWorker {

  private static final Logger log = LoggerFactory.getLogger(DistributionWorker.class);
  static final String METRIC_STEP_RETRIES = "fleetplane_jobs_distribution_step_retries";
  /** Counter, tag {@code channel} ({@code email}, {@code push}): failed delivery attempts, retried or not. */
  public static final String METRIC_NOTIFICATION_FAILURES = "fleetplane_jobs_distribution_notification_failures";

  /** A failure retrying cannot fix; carries the reason recorded on the item. */
  static final class PermanentFailure extends Exception {
    PermanentFailure(String reason, Throwable cause) {
      super(reason, cause, false, false);
    }
  }

  /** A step that failed for good, with what the item records. */
  static final class StepFailed extends RuntimeException {
    final String step;
    final String reason;
    final int attempts;

    StepFailed(String step, String reason, int attempts) {
      super(step + ": " + reason, null, false, false);
      this.step = step;
      this.reason = reason;
      this.attempts = attempts;
    }
  }

  private record Copy(String documentId, long bytes) {}

  private final ActorSystem<?> system;
  private final DistributionSettings settings;
  private final DocumentStore store;
  private final SourceCache sources;
  private final Notifier notifier;
  private final PushNotifier pushNotifier;
  private final CopyRenderer renderer;
  private final DistributionSecrets secrets;
  private final ExecutorService executor;
  private final ExecutionContext ec;
  private volatile boolean stopping;

  DistributionWorker(ActorSystem<?> system, DistributionSettings settings, DocumentStore store, Notifier notifier,
      PushNotifier pushNotifier, CopyRenderer renderer, DistributionSecrets secrets, ExecutorService executor) {
    this.pushNotifier = pushNotifier;
    this.system = system;
    this.settings = settings;
    this.store = store;
    this.sources = new SourceCache(store, settings.sourceCacheBytes());
    this.notifier = notifier;
    this.renderer = renderer;
    this.secrets = secrets;
    this.executor = executor;
    this.ec = ExecutionContext.fromExecutorService(executor);
  }

  /** From now on failures are shutdown noise: they leave their items open for the next start. */
  void stop() {
    stopping = true;
  }

  /**
   * An item under way in the pool. {@code rendered} completes, always normally, once the item no
   * longer needs a render slot: its copy is stored (or the render or store step failed for good),
   * or it only had a notification left. {@code finished} completes once the item is done either
   * way; in between it waits for the job's journal write and sends its notifications, which
   * use no CPU worth a slot (see {@link DistributionWorkPool}).
   */
  record Started(CompletionStage<Done> rendered, CompletionStage<Done> finished) {}

  Started start(Task task) {
    AtomicInteger attempts = new AtomicInteger();
    CompletableFuture<Done> rendered = new CompletableFuture<>();
    CompletionStage<Done> work;
    try {
      work = task.stage() == Stage.RENDER ? render(task, attempts, rendered) : notify(task, task.linkExpiresAt());
    } catch (RuntimeException e) {
      work = CompletableFuture.failedFuture(e);
    }
    if (task.stage() != Stage.RENDER) {
      rendered.complete(Done.getInstance());
    }
    CompletionStage<Done> finished = work.exceptionallyCompose(e -> {
      Throwable cause = unwrap(e);
      if (stopping) {
        log.info("Item {} of job {} left open by the node's shutdown; it resumes on the next start", task.itemId(),
            task.jobId());
        return CompletableFuture.completedFuture(Done.getInstance());
      }
      if (cause instanceof StepFailed failed) {
        log.warn("Item {} of job {} failed at {} after {} attempts: {}", task.itemId(), task.jobId(), failed.step,
            failed.attempts, failed.reason);
        return record(task, replyTo -> new DistributionJob.RecordFailed(task.itemId(), failed.step, failed.reason,
            failed.attempts, replyTo)).thenApply(ack -> Done.getInstance());
      }
      return CompletableFuture.failedFuture(cause);
    });
    // Never leaves a slot taken, whatever happened before the store step.
    finished.whenComplete((done, e) -> rendered.complete(Done.getInstance()));
    return new Started(rendered, finished);
  }

  private CompletionStage<Done> render(Task task, AtomicInteger attempts, CompletableFuture<Done> rendered) {
    String token = secrets.linkToken(task.jobId(), task.itemId());
    CompletionStage<Copy> stored = step(task, "render", attempts, () -> makeCopy(task))
        .thenCompose(bytes -> step(task, "store", null, () -> new Copy(store.put(bytes), bytes.length)));
    stored.whenComplete((copy, e) -> rendered.complete(Done.getInstance()));
    return stored
        .thenCompose(copy -> record(task, replyTo -> new DistributionJob.RecordRendered(task.itemId(), copy.documentId(),
            copy.bytes(), DistributionSecrets.hashToken(token), attempts.get(), replyTo)))
        .thenCompose(ack -> {
          Metrics.increment(DistributionJob.METRIC_ITEMS, Map.of("result", "rendered", "step", "render"));
          if (ack.proceed() && task.options().notifies()) {
            return notify(task, ack.linkExpiresAt());
          }
          return CompletableFuture.completedFuture(Done.getInstance());
        });
  }

  private byte[] makeCopy(Task task) throws Exception {
    byte[] source;
    try {
      source = sources.get(task.file().documentId()).orElseThrow(() -> new PermanentFailure(
          "source-missing: document " + task.file().documentId() + " is not in the document store", null));
    } catch (DocumentStore.CorruptDocumentException e) {
      throw new PermanentFailure("source-corrupt: " + e.getMessage(), e);
    }
    String watermark = WatermarkTemplate.render(task.options().watermarkTemplate(), Map.of(
        "recipient.name", task.recipient().name(),
        "recipient.email", task.recipient().email(),
        "recipient.id", task.recipient().id(),
        "date", task.jobCreatedAt().atOffset(ZoneOffset.UTC).toLocalDate().toString(),
        "job.id", task.jobId(),
        "file.name", task.file().name()));
    String password = task.options().passwordProtect() ? secrets.password(task.jobId(), task.recipient().id()) : null;
    try {
      return renderer.render(task.jobId(), task.itemId(), source, watermark,
          secrets.fingerprint(task.jobId(), task.recipient().id()), password);
    } catch (java.io.InterruptedIOException e) {
      throw e; // the node is stopping, the source is fine
    } catch (IOException e) {
      throw new PermanentFailure("source-unreadable: the PDF could not be processed: " + e.getMessage(), e);
    }
  }

  /**
   * The item's notify step: the e-mail (when asked for), then the push (when asked for), each
   * retried on its own so a push failure does not resend a delivered e-mail; then the job records
   * the item notified. Both channels carry the same stable message id. The job journaled the
   * copy (the outbox intent: the item is {@code notifying}) before this runs, and journals the
   * result after; a crash in between sends again with the same id.
   */
  private CompletionStage<Done> notify(Task task, Instant linkExpiresAt) {
    String messageId = "<" + task.jobId() + "." + task.itemId() + "@fleetplane>";
    String link = settings.publicBaseUrl() + "/d/" + secrets.linkToken(task.jobId(), task.itemId());
    AtomicInteger sent = new AtomicInteger();
    CompletionStage<Done> email = task.options().emailNotification()
        ? step(task, "notify", sent, () -> {
            sendEmail(task, messageId, link, linkExpiresAt);
            return Done.getInstance();
          })
        : CompletableFuture.completedFuture(Done.getInstance());
    return email
        .thenCompose(d -> task.options().pushNotification()
            ? step(task, "push", sent, () -> {
                push(task, messageId, link, linkExpiresAt);
                return Done.getInstance();
              })
            : CompletableFuture.completedFuture(Done.getInstance()))
        .thenCompose(d -> record(task, replyTo -> new DistributionJob.RecordNotified(task.itemId(), messageId,
            sent.get(), replyTo)))
        .thenApply(ack -> {
          Metrics.increment(DistributionJob.METRIC_ITEMS, Map.of("result", "notified", "step", "notify"));
          return Done.getInstance();
        });
  }

  private void sendEmail(Task task, String messageId, String link, Instant linkExpiresAt)
      throws Notifier.NotificationException {
    StringBuilder body = new StringBuilder()
        .append("Hello ").append(task.recipient().name()).append(",\n\n")
        .append(task.file().name()).append(" has been shared with you. Download your personal copy:\n")
        .append(link).append("\n\nThe link expires at ").append(linkExpiresAt).append(".\n");
    if (task.options().passwordProtect()) {
      body.append("Password to open the document: ")
          .append(secrets.password(task.jobId(), task.recipient().id())).append('\n');
    }
    body.append("\nThis copy is marked for you personally; do not forward it.\n");
    try {
      notifier.send(messageId, task.recipient().name(), task.recipient().email(),
          "Document shared with you: " + task.file().name(), body.toString());
    } catch (Notifier.NotificationException | RuntimeException e) {
      Metrics.increment(METRIC_NOTIFICATION_FAILURES, Map.of("channel", "email"));
      throw e;
    }
  }

  private void push(Task task, String messageId, String link, Instant linkExpiresAt)
      throws Notifier.NotificationException {
    try {
      pushNotifier.push(new PushNotifier.PushNotification(messageId, task.jobId(), task.itemId(),
          task.recipient().id(), task.recipient().name(), task.recipient().email(), task.recipient().pushTarget(),
          task.file().name(), link, linkExpiresAt));
    } catch (Notifier.NotificationException | RuntimeException e) {
      Metrics.increment(METRIC_NOTIFICATION_FAILURES, Map.of("channel", "push"));
      throw e;
    }
  }

  /** Asks the job to persist a result; retried, because the job may be recovering or moving. */
  private CompletionStage<DistributionJob.ItemAck> record(Task task,
      Function<ActorRef<DistributionJob.ItemAck>, DistributionJob.Command> message) {
    var entity = ClusterSharding.get(system).entityRefFor(DistributionJob.ENTITY_TYPE_KEY, task.jobId());
    return retry(task, "record", 1, () -> entity.ask(message, settings.askTimeout()));
  }

  /** Runs a blocking step on the pool's threads with the job and item in the MDC, retried. */
  private <T> CompletionStage<T> step(Task task, String step, AtomicInteger attempts, Callable<T> call) {
    return retry(task, step, 1, () -> CompletableFuture.supplyAsync(() -> {
      if (attempts != null) {
        attempts.incrementAndGet();
      }
      MDC.put(LogIds.JOB_ID, task.jobId());
      MDC.put(DistributionJob.ITEM_ID, task.itemId());
      try {
        return call.call();
      } catch (Exception e) {
        throw new CompletionException(e);
      } finally {
        MDC.remove(LogIds.JOB_ID);
        MDC.remove(DistributionJob.ITEM_ID);
      }
    }, executor));
  }

  private <T> CompletionStage<T> retry(Task task, String step, int attempt,
      java.util.function.Supplier<CompletionStage<T>> call) {
    CompletionStage<T> tried;
    try {
      tried = call.get();
    } catch (RuntimeException e) {
      tried = CompletableFuture.failedFuture(e);
    }
    return tried.handle((value, e) -> {
      if (e == null) {
        return CompletableFuture.completedFuture(value);
      }
      Throwable cause = unwrap(e);
      if (cause instanceof PermanentFailure permanent) {
        return CompletableFuture.<T>failedFuture(new StepFailed(step, permanent.getMessage(), attempt));
      }
      if (attempt >= settings.retryMaxAttempts()) {
        return CompletableFuture.<T>failedFuture(new StepFailed(step,
            "gave up after " + attempt + " attempts: " + cause, attempt));
      }
      Duration backoff = backoff(attempt);
      Metrics.increment(METRIC_STEP_RETRIES, Map.of("step", step));
      log.info("Step {} of item {} (job {}) failed (attempt {}), retrying in {} ms: {}", step, task.itemId(),
          task.jobId(), attempt, backoff.toMillis(), cause.toString());
      return Patterns.after(backoff, system.classicSystem().scheduler(), ec,
          () -> retry(task, step, attempt + 1, call));
    }).thenCompose(java.util.function.Function.identity());
  }

  private Duration backoff(int attempt) {
    long min = settings.retryMinBackoff().toMillis();
    long max = settings.retryMaxBackoff().toMillis();
    long exp = Math.min(max, min * (1L << Math.min(attempt - 1, 20)));
    return Duration.ofMillis((long) (exp * (1 + 0.2 * ThreadLocalRandom.current().nextDouble())));
  }

  static Throwable unwrap(Throwable e) {
    while ((e instanceof CompletionException || e instanceof java.util.concurrent.ExecutionException)
        && e.getCause() != null) {
      e = e.getCause();
    }
    return e;
  }
}
