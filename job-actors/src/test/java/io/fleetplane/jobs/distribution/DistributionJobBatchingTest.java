package io.fleetplane.jobs.distribution;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.actor.testkit.typed.javadsl.ActorTestKit;
import akka.actor.testkit.typed.javadsl.TestProbe;
import akka.actor.typed.ActorRef;
import akka.persistence.testkit.JournalOperation;
import akka.persistence.testkit.PersistenceTestKitPlugin;
import akka.persistence.testkit.PersistenceTestKitSnapshotPlugin;
import akka.persistence.testkit.ProcessingPolicy;
import akka.persistence.testkit.ProcessingResult;
import akka.persistence.testkit.ProcessingSuccess;
import akka.persistence.testkit.StorageFailure;
import akka.persistence.testkit.WriteEvents;
import akka.persistence.testkit.javadsl.PersistenceTestKit;
import com.typesafe.config.ConfigFactory;
import io.fleetplane.config.FleetplaneConfig;
import io.fleetplane.jobs.distribution.DistributionJob.ItemAck;
import io.fleetplane.jobs.distribution.domain.DistributionFile;
import io.fleetplane.jobs.distribution.domain.DistributionOptions;
import io.fleetplane.jobs.distribution.domain.DistributionSecrets;
import io.fleetplane.jobs.distribution.domain.DistributionSpec;
import io.fleetplane.jobs.distribution.domain.Recipient;
import io.fleetplane.jobs.distribution.store.DocumentStore;
import io.fleetplane.testkit.Eventually;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.file.Files;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/**
 * Group commit of item results in {@link DistributionJob}, on Akka's in-memory journal whose
 * write policy sees every atomic write: many results reported at once are journaled in fewer
 * writes than results, each worker still gets exactly its own answer after its write, duplicates
 * are refused, a cancel is applied after pending results, and a failed write loses nothing.
 *
 * <p>The job hands its items to a real {@link DistributionWorkPool} whose document store blocks,
 * so no worker reports on its own: every report here comes from the test.
 */
class DistributionJobBatchingTest {

  private static final int MAX_RESULTS_PER_WRITE = 32;

  private static ActorTestKit testKit;
  private static PersistenceTestKit journal;
  private static DistributionWorkPool pool;
  private static final CountDownLatch NEVER = new CountDownLatch(1);
  /** Every atomic write of the job under test, in order. */
  private static final ConcurrentLinkedQueue<List<Object>> WRITES = new ConcurrentLinkedQueue<>();
  /**
   * Fails, once, the next write holding an item result and at least one more event, when set:
   * the journal then answers with one failure per event, and all but the first reach the
   * restarted job late (what stalled it, see StaleWriteFailures).
   */
  private static final AtomicBoolean FAIL_NEXT_RESULT_WRITE = new AtomicBoolean();
  /** The events of the write failed on purpose; set once it was refused. */
  private static final AtomicReference<List<Object>> FAILED_WRITE = new AtomicReference<>();

  private static int jobs;

  @BeforeAll
  static void start() throws IOException {
    Map<String, Object> overrides = Map.of(
        "akka.actor.provider", "local",
        "akka.loglevel", "WARNING",
        "fleetplane.jobs.distribution.store-dir", Files.createTempDirectory("fp-batching-test-").toString(),
        "fleetplane.jobs.distribution.parallelism", 1,
        "fleetplane.jobs.distribution.in-flight-per-thread", 1,
        "fleetplane.jobs.distribution.max-results-per-write", MAX_RESULTS_PER_WRITE);
    testKit = ActorTestKit.create("distribution-batching",
        FleetplaneConfig.load(ConfigFactory.parseMap(overrides).withFallback(PersistenceTestKitPlugin.config())
            .withFallback(PersistenceTestKitSnapshotPlugin.config())));
    journal = PersistenceTestKit.create(testKit.system());
    DistributionSettings settings = DistributionSettings.fromConfig(testKit.system().settings().config());
    assertEquals(MAX_RESULTS_PER_WRITE, settings.maxResultsPerWrite());
    DocumentStore blocking = new BlockingStore();
    pool = new DistributionWorkPool(testKit.system(), settings, executor -> new DistributionWorker(testKit.system(),
        settings, blocking, (id, name, email, subject, body) -> {}, n -> {}, CopyRenderer.PDFBOX,
        new DistributionSecrets(settings.secret()), executor));
  }

  @AfterAll
  static void stop() {
    testKit.shutdownTestKit();
  }

  @BeforeEach
  void recordWrites() {
    WRITES.clear();
    FAIL_NEXT_RESULT_WRITE.set(false);
    FAILED_WRITE.set(null);
    journal.withPolicy(new ProcessingPolicy<JournalOperation>() {
      @Override
      public ProcessingResult tryProcess(String persistenceId, JournalOperation op) {
        if (op instanceof WriteEvents write) {
          List<Object> events = List.copyOf(write.getBatch());
          if (events.size() > 1 && events.stream().anyMatch(e -> e instanceof DistributionJob.ItemRendered)
              && FAIL_NEXT_RESULT_WRITE.compareAndSet(true, false)) {
            FAILED_WRITE.set(events);
            return StorageFailure.create(new IOException("simulated journal failure"));
          }
          WRITES.add(events);
        }
        return ProcessingSuccess.getInstance();
      }
    });
  }

  @Test
  void resultsReportedTogetherAreJournaledInFewerWritesAndEachWorkerGetsItsAnswer() {
    int recipients = 200;
    String jobId = newJobId();
    ActorRef<DistributionJob.Command> job = createJob(jobId, recipients, false);

    // Every worker reports at once; 20 of them report an item a second time (a duplicate worker).
    List<TestProbe<ItemAck>> workers = new ArrayList<>();
    List<TestProbe<ItemAck>> duplicates = new ArrayList<>();
    for (int r = 0; r < recipients; r++) {
      TestProbe<ItemAck> worker = testKit.createTestProbe(ItemAck.class);
      workers.add(worker);
      job.tell(rendered(r, worker.getRef()));
    }
    for (int r = 0; r < 20; r++) {
      TestProbe<ItemAck> duplicate = testKit.createTestProbe(ItemAck.class);
      duplicates.add(duplicate);
      job.tell(rendered(r, duplicate.getRef()));
    }

    List<Instant> expiries = new ArrayList<>();
    for (TestProbe<ItemAck> worker : workers) {
      ItemAck ack = worker.expectMessageClass(ItemAck.class, Duration.ofSeconds(10));
      assertTrue(ack.proceed(), "every first report is recorded");
      assertNotNull(ack.linkExpiresAt());
      expiries.add(ack.linkExpiresAt());
      worker.expectNoMessage(Duration.ofMillis(1));
    }
    for (int r = 0; r < duplicates.size(); r++) {
      ItemAck ack = duplicates.get(r).expectMessageClass(ItemAck.class, Duration.ofSeconds(10));
      assertFalse(ack.proceed(), "a duplicate report is refused");
      assertEquals(expiries.get(r), ack.linkExpiresAt(), "a refusal carries the recorded copy's link expiry");
    }

    List<Object> events = journal.persistedInStorage(DistributionJob.ENTITY_TYPE_KEY.name() + "|" + jobId);
    Set<String> rendered = new HashSet<>();
    for (Object e : events) {
      if (e instanceof DistributionJob.ItemRendered r) {
        assertTrue(rendered.add(r.itemId()), "one ItemRendered per item, " + r.itemId() + " twice");
      }
    }
    assertEquals(recipients, rendered.size());
    assertEquals("completed", assertInstanceOf(DistributionJob.JobFinished.class, events.get(events.size() - 1)).status());
    assertEquals(1, events.stream().filter(e -> e instanceof DistributionJob.JobFinished).count());

    List<List<Object>> resultWrites = WRITES.stream()
        .filter(w -> w.stream().anyMatch(e -> e instanceof DistributionJob.ItemRendered)).toList();
    LoggerFactory.getLogger(DistributionJobBatchingTest.class).warn("{} results journaled in {} writes: {}",
        recipients, resultWrites.size(), resultWrites.stream().map(List::size).toList());
    assertTrue(resultWrites.size() < recipients,
        "expected fewer writes than results, got " + resultWrites.size() + " writes for " + recipients);
    for (List<Object> write : resultWrites) {
      long results = write.stream().filter(e -> e instanceof DistributionJob.ItemRendered).count();
      assertTrue(results <= MAX_RESULTS_PER_WRITE, "a write of " + results + " results exceeds the cap");
    }
    // The last result and JobFinished share one write.
    List<Object> last = resultWrites.get(resultWrites.size() - 1);
    assertInstanceOf(DistributionJob.JobFinished.class, last.get(last.size() - 1));

    DistributionJob.Summary summary = summary(job);
    assertEquals("completed", summary.status());
    assertEquals(recipients, summary.counts().get("completed"));
  }

  @Test
  void cancelArrivingWhileResultsArePendingAppliesAfterThem() {
    String jobId = newJobId();
    ActorRef<DistributionJob.Command> job = createJob(jobId, 50, true);
    List<TestProbe<ItemAck>> workers = new ArrayList<>();
    for (int r = 0; r < 10; r++) {
      TestProbe<ItemAck> worker = testKit.createTestProbe(ItemAck.class);
      workers.add(worker);
      job.tell(rendered(r, worker.getRef()));
    }
    TestProbe<DistributionJob.CancelReply> canceller = testKit.createTestProbe(DistributionJob.CancelReply.class);
    job.tell(new DistributionJob.CancelJob(canceller.getRef()));

    for (TestProbe<ItemAck> worker : workers) {
      assertTrue(worker.expectMessageClass(ItemAck.class, Duration.ofSeconds(10)).proceed(),
          "results reported before the cancel are recorded");
    }
    var accepted = canceller.expectMessageClass(DistributionJob.CancelAccepted.class, Duration.ofSeconds(10));
    assertEquals("cancelled", accepted.summary().status());
    assertEquals(50, accepted.summary().counts().get("cancelled"));

    List<Object> events = journal.persistedInStorage(DistributionJob.ENTITY_TYPE_KEY.name() + "|" + jobId);
    int cancelledAt = -1;
    int rendered = 0;
    for (int i = 0; i < events.size(); i++) {
      if (events.get(i) instanceof DistributionJob.ItemRendered) {
        assertEquals(-1, cancelledAt, "a result journaled after the cancel");
        rendered++;
      } else if (events.get(i) instanceof DistributionJob.JobCancelled) {
        cancelledAt = i;
      }
    }
    assertEquals(10, rendered);
    assertEquals("cancelled", ((DistributionJob.JobFinished) events.get(events.size() - 1)).status());

    // The copies exist, but their notification is refused: the job is cancelled.
    TestProbe<ItemAck> late = testKit.createTestProbe(ItemAck.class);
    job.tell(new DistributionJob.RecordNotified(DistributionSpec.itemId(0, "r0"), "<m>", 1, late.getRef()));
    assertFalse(late.expectMessageClass(ItemAck.class).proceed());
  }

  @Test
  void aFailedWriteAnswersNobodyAndTheWorkersRetryRecordsEveryItem() {
    String jobId = newJobId();
    ActorRef<DistributionJob.Command> job = createJob(jobId, 5, false);
    FAIL_NEXT_RESULT_WRITE.set(true);
    List<TestProbe<ItemAck>> workers = new ArrayList<>();
    for (int r = 0; r < 5; r++) {
      TestProbe<ItemAck> worker = testKit.createTestProbe(ItemAck.class);
      workers.add(worker);
      job.tell(rendered(r, worker.getRef()));
    }
    // The results in the failed write are lost: their workers hear nothing, the entity restarts
    // (backoff from 200 ms) and recovers without them. A read sent right after the failure lands
    // in the backoff, behind the journal's failure replies for the write's other events: it is
    // answered once the entity has recovered.
    Eventually.await(Duration.ofSeconds(10), () -> FAILED_WRITE.get() != null, () -> "a result write failed");
    Set<String> lost = new HashSet<>();
    for (Object e : FAILED_WRITE.get()) {
      if (e instanceof DistributionJob.ItemRendered r) {
        lost.add(r.itemId());
      }
    }
    // 100 ms: the entity has taken the failure and waits out its backoff (at least 200 ms).
    int firstLost = Integer.parseInt(lost.stream().sorted().findFirst().orElseThrow().substring("f0-r".length()));
    workers.get(firstLost).expectNoMessage(Duration.ofMillis(100));
    summary(job);
    LoggerFactory.getLogger(DistributionJobBatchingTest.class).warn("failed write: {} events, results {}",
        FAILED_WRITE.get().size(), lost);

    // What each worker does once its ask timed out: report again, as a new ask
    // (DistributionWorker.record retries). Each item is recorded exactly once: the retry is
    // accepted when the first report was lost with the failed write; otherwise the first report
    // was in a write that succeeded (its worker got its answer) and the retry is refused.
    for (int r = 0; r < 5; r++) {
      TestProbe<ItemAck> retry = testKit.createTestProbe(ItemAck.class);
      job.tell(rendered(r, retry.getRef()));
      ItemAck retryAck = retry.expectMessageClass(ItemAck.class, Duration.ofSeconds(10));
      String itemId = DistributionSpec.itemId(0, "r" + r);
      assertEquals(lost.contains(itemId), retryAck.proceed(), "retry of " + itemId + " accepted iff it was lost");
      if (retryAck.proceed()) {
        workers.get(r).expectNoMessage(Duration.ofMillis(50));
      } else {
        assertTrue(workers.get(r).expectMessageClass(ItemAck.class).proceed());
      }
    }
    List<Object> events = journal.persistedInStorage(DistributionJob.ENTITY_TYPE_KEY.name() + "|" + jobId);
    assertEquals(5, events.stream().filter(e -> e instanceof DistributionJob.ItemRendered)
        .map(e -> ((DistributionJob.ItemRendered) e).itemId()).distinct().count());
    assertEquals(5, events.stream().filter(e -> e instanceof DistributionJob.ItemRendered).count());
    DistributionJob.Summary summary = summary(job);
    assertEquals("completed", summary.status());
    assertEquals(5, summary.counts().get("completed"));
  }

  // --- helpers ---------------------------------------------------------------------------------

  private static String newJobId() {
    return "batching-" + (++jobs) + "-" + System.nanoTime();
  }

  private static ActorRef<DistributionJob.Command> createJob(String jobId, int recipients, boolean email) {
    List<Recipient> rs = new ArrayList<>();
    for (int r = 0; r < recipients; r++) {
      rs.add(new Recipient("r" + r, "Recipient " + r, "r" + r + "@example.com"));
    }
    DistributionSpec spec = new DistributionSpec(List.of(new DistributionFile("a".repeat(64), "script.pdf")), rs,
        new DistributionOptions("{recipient.name}", false, 3600, email));
    ActorRef<DistributionJob.Command> job = testKit.spawn(DistributionJob.create(jobId, pool, MAX_RESULTS_PER_WRITE));
    TestProbe<DistributionJob.Accepted> probe = testKit.createTestProbe(DistributionJob.Accepted.class);
    job.tell(new DistributionJob.CreateJob(spec, probe.getRef()));
    assertTrue(probe.expectMessageClass(DistributionJob.Accepted.class, Duration.ofSeconds(10)).created());
    return job;
  }

  private static DistributionJob.RecordRendered rendered(int recipient, ActorRef<ItemAck> replyTo) {
    return new DistributionJob.RecordRendered(DistributionSpec.itemId(0, "r" + recipient), "b".repeat(64), 1000,
        "c".repeat(64), 1, replyTo);
  }

  private static DistributionJob.Summary summary(ActorRef<DistributionJob.Command> job) {
    TestProbe<DistributionJob.SummaryReply> probe = testKit.createTestProbe(DistributionJob.SummaryReply.class);
    job.tell(new DistributionJob.GetSummary(probe.getRef()));
    return probe.expectMessageClass(DistributionJob.SummaryFound.class, Duration.ofSeconds(10)).summary();
  }

  /** A store whose reads never return, so the pool's workers never report by themselves. */
  private static final class BlockingStore implements DocumentStore {
    @Override
    public String put(byte[] content) throws IOException {
      throw new IOException("not used in this test");
    }

    @Override
    public Optional<byte[]> get(String id) throws IOException {
      try {
        NEVER.await();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      throw new InterruptedIOException("test store stopped");
    }

    @Override
    public boolean exists(String id) {
      return false;
    }

    @Override
    public void putThumbnail(String documentId, byte[] png) throws IOException {
      throw new IOException("not used in this test");
    }

    @Override
    public Optional<byte[]> thumbnail(String documentId) {
      return Optional.empty();
    }
  }
}
