package io.fleetplane.jobs.distribution;

import akka.Done;
import akka.NotUsed;
import akka.actor.CoordinatedShutdown;
import akka.actor.typed.ActorSystem;
import akka.stream.KillSwitches;
import akka.stream.UniqueKillSwitch;
import akka.stream.javadsl.Keep;
import akka.stream.javadsl.Sink;
import akka.stream.javadsl.Source;
import io.fleetplane.jobs.distribution.domain.DistributionFile;
import io.fleetplane.jobs.distribution.domain.DistributionOptions;
import io.fleetplane.jobs.distribution.domain.DistributionPriority;
import io.fleetplane.jobs.distribution.domain.FairQueue;
import io.fleetplane.jobs.distribution.domain.Recipient;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The node's one bounded pool for distribution work, shared by every job: an Akka Streams graph
 * pulling tasks round-robin between jobs, weighted by their priority ({@link FairQueue}) into {@code mapAsyncUnordered(parallelism)}
 * whose blocking steps (PDF rendering, file writes, SMTP) run on a fixed thread pool of
 * {@code parallelism} threads, off Akka's dispatchers. The stream admits
 * {@code parallelism x in-flight-per-thread} items to rendering so that one item's store write
 * overlaps with another's rendering instead of idling a thread; CPU use stays bounded by the
 * thread count. An item leaves its render slot once its copy is stored: waiting for the job's
 * journal write and sending notifications happen in a second bounded stage
 * ({@code awaiting-results}), so a slow journal write does not leave the threads idle.
 * Nothing is taken out of the fair queue before a slot is free (plus one task prefetched), so
 * fairness decisions are made late.
 */
public final class DistributionWorkPool {

  private static final Logger log = LoggerFactory.getLogger(DistributionWorkPool.class);

  /** Where an item resumes: make the copy, or (copy recorded) deliver its notification. */
  public enum Stage { RENDER, NOTIFY }

  /** Everything a worker needs for one item, so it never has to ask the job mid-way. */
  public record Task(String jobId, String itemId, Stage stage, DistributionFile file, Recipient recipient,
      DistributionOptions options, Instant jobCreatedAt, Instant linkExpiresAt) {}

  /** An item whose render slot is free again, and what completes when the item is done. */
  private record Rendered(Task task, CompletionStage<Done> finished) {}

  /** Round-robin between jobs, weighted by priority level (see {@link DistributionPriority}). */
  private final FairQueue<Task> queue = new FairQueue<>(Task::jobId, t -> t.jobId() + "/" + t.itemId(),
      t -> t.options().priorityLevel().ordinal(),
      java.util.Arrays.stream(DistributionPriority.values()).mapToInt(DistributionPriority::weight).toArray());
  private final ExecutorService executor;
  private final UniqueKillSwitch killSwitch;
  private final DistributionWorker worker;

  DistributionWorkPool(ActorSystem<?> system, DistributionSettings settings, java.util.function.Function<ExecutorService, DistributionWorker> workerFactory) {
    AtomicInteger threads = new AtomicInteger();
    this.executor = Executors.newFixedThreadPool(settings.parallelism(), r -> {
      Thread t = new Thread(r, "fleetplane-distribution-" + threads.incrementAndGet());
      t.setDaemon(true);
      return t;
    });
    this.worker = workerFactory.apply(executor);
    this.killSwitch = Source.repeat(NotUsed.getInstance())
        .mapAsync(1, n -> queue.take())
        .viaMat(KillSwitches.single(), Keep.right())
        // A render slot is held until the copy is stored, not until the job has journaled it:
        // the journal write (and any notification) then overlaps the next renders.
        .mapAsyncUnordered(settings.parallelism() * settings.inFlightPerThread(), task -> {
          DistributionWorker.Started started = worker.start(task);
          return started.rendered().thenApply(rendered -> new Rendered(task, started.finished()));
        })
        // Bounded too: when the journal falls behind, this fills up and the render slots stop
        // taking new work, instead of copies piling up unrecorded.
        .mapAsyncUnordered(settings.awaitingResults(), rendered -> rendered.finished().handle((done, e) -> {
          queue.done(rendered.task());
          if (e != null) {
            // Worker failures are turned into item results; anything here is a bug or a shutdown.
            log.warn("Distribution work for {}/{} ended without a result: {}", rendered.task().jobId(),
                rendered.task().itemId(), e.toString());
          }
          return Done.getInstance();
        }))
        .to(Sink.ignore())
        .run(system);
    // Stop before the shard regions go: work cut off here stays open in the journal and resumes
    // on the next start, instead of being recorded as failed because its job was unreachable.
    CoordinatedShutdown.get(system).addTask(CoordinatedShutdown.PhaseServiceRequestsDone(), "stop-distribution-pool",
        () -> {
          stop();
          return CompletableFuture.completedFuture(Done.getInstance());
        });
    system.getWhenTerminated().thenRun(this::stop);
    log.info("Distribution work pool started with parallelism {}", settings.parallelism());
  }

  /** Queues a job's items (those not already queued or running); returns how many were queued. */
  int submit(String jobId, List<Task> tasks) {
    return queue.offer(tasks);
  }

  /** Drops a job's queued items; running ones finish and are ignored by the cancelled job. */
  int cancel(String jobId) {
    return queue.removeGroup(jobId);
  }

  public int queued() {
    return queue.queued();
  }

  void stop() {
    worker.stop();
    killSwitch.shutdown();
    executor.shutdownNow();
  }
}
