package io.fleetplane.jobs.distribution;

import static io.fleetplane.jobs.distribution.DistributionFixture.await;
import static io.fleetplane.jobs.distribution.DistributionFixture.eventually;
import static io.fleetplane.jobs.distribution.DistributionFixture.summary;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.actor.typed.ActorSystem;
import com.icegreen.greenmail.util.GreenMail;
import io.fleetplane.config.metrics.Metrics;
import io.fleetplane.jobs.distribution.domain.DistributionRequest;
import io.fleetplane.jobs.distribution.domain.DistributionRequest.FileRequest;
import io.fleetplane.jobs.distribution.domain.DistributionRequest.RecipientRequest;
import io.fleetplane.jobs.distribution.domain.DistributionSecrets;
import io.fleetplane.jobs.distribution.notify.Notifier;
import io.fleetplane.jobs.distribution.notify.PushNotifier;
import io.fleetplane.jobs.distribution.store.FileSystemDocumentStore;
import io.fleetplane.testkit.infra.FreePorts;
import io.fleetplane.testkit.infra.PostgresEndpoint;
import io.fleetplane.testkit.infra.TestPostgres;
import jakarta.mail.internet.MimeMessage;
import java.io.ByteArrayOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Collectors;
import org.apache.pdfbox.Loader;
import org.apache.pdfbox.pdmodel.PDDocument;
import org.apache.pdfbox.text.PDFTextStripper;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Distribution jobs end to end on one node: real PDFBox work, the real JDBC journal on
 * PostgreSQL, real SMTP delivery to an in-process GreenMail server.
 */
class DistributionJobIT {

  private static PostgresEndpoint db;
  private static Path storeDir;
  private static int smtpPort;
  private static GreenMail mail;
  private static ActorSystem<Void> system;
  private static Distributions distributions;
  /** Renders per job/item, across every node this class starts. */
  private static final Map<String, Integer> RENDERS = new ConcurrentHashMap<>();
  private static volatile long renderDelayMillis;
  /** When each job/item's (last) render began: what the pool's fairness decides. */
  private static final Map<String, java.time.Instant> RENDER_STARTED = new ConcurrentHashMap<>();

  private static final CopyRenderer COUNTING = (jobId, itemId, source, watermark, fingerprint, password) -> {
    RENDERS.merge(jobId + "/" + itemId, 1, Integer::sum);
    RENDER_STARTED.put(jobId + "/" + itemId, java.time.Instant.now());
    if (renderDelayMillis > 0) {
      // Stands in for a long multi-page script, so the tests can act while a job is mid-way.
      try {
        Thread.sleep(renderDelayMillis);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new java.io.InterruptedIOException("render interrupted");
      }
    }
    return CopyRenderer.PDFBOX.render(jobId, itemId, source, watermark, fingerprint, password);
  };

  /** Pushes per message id; recipients named "Flaky ..." fail their first two attempts, "Unreachable ..." every one. */
  private static final Map<String, Integer> PUSH_ATTEMPTS = new ConcurrentHashMap<>();
  private static final List<PushNotifier.PushNotification> PUSHED = new java.util.concurrent.CopyOnWriteArrayList<>();
  private static final PushNotifier PUSH = n -> {
    int attempt = PUSH_ATTEMPTS.merge(n.messageId(), 1, Integer::sum);
    if (n.recipientName().startsWith("Unreachable") || (n.recipientName().startsWith("Flaky") && attempt <= 2)) {
      throw new Notifier.NotificationException("push gateway refused attempt " + attempt, null);
    }
    PUSHED.add(n);
  };

  @BeforeAll
  static void start() throws Exception {
    db = TestPostgres.newSchema();
    DistributionFixture.migrate(db);
    storeDir = Files.createTempDirectory("fp-distribution-it-");
    smtpPort = FreePorts.next();
    mail = DistributionFixture.startSmtp(smtpPort);
    system = DistributionFixture.startNode(DistributionFixture.config(db, storeDir, smtpPort, 2), COUNTING, PUSH);
    distributions = Distributions.get(system);
  }

  @AfterAll
  static void stop() throws Exception {
    if (system != null) {
      DistributionFixture.stop(system);
    }
    if (mail != null) {
      mail.stop();
    }
    if (db != null) {
      TestPostgres.dropSchema(db);
    }
  }

  private static List<RecipientRequest> recipients(String prefix, int n) {
    List<RecipientRequest> list = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      list.add(new RecipientRequest(prefix + " Person " + i, prefix.toLowerCase() + i + "@example.com"));
    }
    return list;
  }

  private static List<FileRequest> upload(Distributions d, String title, int files, int pages) throws Exception {
    List<FileRequest> list = new ArrayList<>();
    for (int i = 0; i < files; i++) {
      var doc = d.upload(TestPdfs.script(title + " " + i, pages));
      assertTrue(d.store().thumbnail(doc.documentId()).isPresent(), "thumbnail made at upload");
      list.add(new FileRequest(doc.documentId(), title + "-" + i + ".pdf"));
    }
    return list;
  }

  private static List<MimeMessage> mailsFor(String jobId) throws Exception {
    List<MimeMessage> found = new ArrayList<>();
    for (MimeMessage m : mail.getReceivedMessages()) {
      if (m.getMessageID() != null && m.getMessageID().startsWith("<" + jobId + ".")) {
        found.add(m);
      }
    }
    return found;
  }

  @Test
  void jobMakesProtectedWatermarkedCopiesMailsLinksAndRevokes() throws Exception {
    // The issue's scale: 10 files x 20 recipients = 200 personal copies.
    List<FileRequest> files = upload(distributions, "Script", 10, 2);
    List<RecipientRequest> people = recipients("Crew", 20);
    var accepted = await(distributions.submit(new DistributionRequest(files, people,
        "{recipient.name} - {recipient.email} - {date}", true, 3600L, true)));
    String jobId = accepted.summary().jobId();
    assertEquals(200, accepted.summary().totalItems());

    eventually("job completes", Duration.ofSeconds(60), () -> summary(distributions, jobId).status().equals("completed"));
    DistributionJob.Summary done = summary(distributions, jobId);
    assertEquals(200, done.counts().get("completed"));
    assertEquals(0, done.counts().get("failed"));
    assertNotNull(done.finishedAt());

    eventually("200 mails", Duration.ofSeconds(20), () -> {
      try {
        return mailsFor(jobId).size() == 200;
      } catch (Exception e) {
        throw new IllegalStateException(e);
      }
    });
    Set<String> identified = new java.util.HashSet<>();
    for (MimeMessage m : mailsFor(jobId)) {
      String to = m.getAllRecipients()[0].toString();
      int person = Integer.parseInt(to.replaceAll(".*<crew(\\d+)@.*", "$1"));
      String token = DistributionFixture.linkToken(m);
      String password = DistributionFixture.password(m);
      var outcome = assertInstanceOf(Distributions.Download.class, await(distributions.download(token)));
      try (PDDocument doc = Loader.loadPDF(outcome.content(), password)) {
        assertTrue(doc.isEncrypted());
        assertEquals(256, doc.getEncryption().getLength(), "AES-256");
        assertEquals(2, doc.getNumberOfPages());
        PDFTextStripper stripper = new PDFTextStripper();
        for (int p = 1; p <= 2; p++) {
          stripper.setStartPage(p);
          stripper.setEndPage(p);
          String text = stripper.getText(doc);
          assertTrue(text.contains("Crew Person " + person + " - crew" + person + "@example.com - "
              + done.createdAt().atOffset(java.time.ZoneOffset.UTC).toLocalDate()),
              "watermark of " + to + " on page " + p);
        }
        doc.setAllSecurityToBeRemoved(true);
        ByteArrayOutputStream plain = new ByteArrayOutputStream();
        doc.save(plain);
        DistributionSecrets.Identified who = distributions.identify(plain.toByteArray()).orElseThrow();
        assertEquals(jobId, who.jobId());
        assertEquals("r" + person, who.recipientId());
        identified.add(who.recipientId() + "/" + outcome.fileName());
      }
    }
    assertEquals(200, identified.size(), "every copy maps back to its own recipient and file");

    // Revoking one recipient's links: theirs answer revoked, the others still serve.
    var revoked = assertInstanceOf(DistributionJob.LinksRevokedReply.class, await(distributions.revoke(jobId, "r1")));
    assertEquals(10, revoked.links());
    for (MimeMessage m : mailsFor(jobId)) {
      var outcome = await(distributions.download(DistributionFixture.linkToken(m)));
      if (m.getAllRecipients()[0].toString().contains("<crew1@")) {
        assertInstanceOf(DistributionJob.LinkRevoked.class, assertInstanceOf(Distributions.Refused.class, outcome).reason());
      } else {
        assertInstanceOf(Distributions.Download.class, outcome);
      }
    }
    String forged = DistributionFixture.linkToken(mailsFor(jobId).get(0));
    forged = forged.substring(0, forged.length() - 2) + (forged.endsWith("AA") ? "BB" : "AA");
    assertInstanceOf(DistributionJob.LinkUnknown.class,
        assertInstanceOf(Distributions.Refused.class, await(distributions.download(forged))).reason());
    var items = assertInstanceOf(DistributionJob.ItemsPage.class, await(distributions.items(jobId, null, 0, 1000)));
    assertEquals(200, items.total());
    assertTrue(items.items().stream().filter(i -> !i.recipientId().equals("r1")).allMatch(i -> i.downloads() >= 1),
        "downloads are recorded per item");
  }

  @Test
  void smallJobIsNotStarvedByABigOne() throws Exception {
    renderDelayMillis = 20;
    try {
      List<FileRequest> bigFiles = upload(distributions, "Big", 3, 1);
      var big = await(distributions.submit(new DistributionRequest(bigFiles, recipients("Big", 20), null, false, null, false)));
      List<FileRequest> smallFiles = upload(distributions, "Small", 1, 1);
      var small = await(distributions.submit(new DistributionRequest(smallFiles, recipients("Small", 3), null, false, null, false)));
      String bigId = big.summary().jobId();
      String smallId = small.summary().jobId();
      eventually("both complete", Duration.ofSeconds(60), () ->
          summary(distributions, bigId).status().equals("completed") && summary(distributions, smallId).status().equals("completed"));
      var smallCreated = summary(distributions, smallId).createdAt();
      var smallDone = summary(distributions, smallId).finishedAt();
      // Fairness is about the render slots: count the big job's renders that began while the
      // small job was waiting for its own (after it was created, before its last render began).
      // Not the big items' journal times: copies already made wait for the journal outside the
      // render slots and may be recorded in a burst while the small job waits, without having
      // taken any CPU from it.
      var smallLastRender = lastRenderStarted(smallId);
      long bigWhileSmallWaited = RENDER_STARTED.entrySet().stream().filter(e -> e.getKey().startsWith(bigId + "/"))
          .filter(e -> e.getValue().isAfter(smallCreated) && e.getValue().isBefore(smallLastRender)).count();
      assertTrue(summary(distributions, bigId).finishedAt().isAfter(smallDone));
      // Round-robin: the small job's 3 items each wait for about one big item per slot, not for
      // every big item still queued.
      assertTrue(bigWhileSmallWaited < 20, "big renders begun while the small job waited: " + bigWhileSmallWaited
          + " of 60");
    } finally {
      renderDelayMillis = 0;
    }
  }

  @Test
  void highPriorityJobOvertakesANormalOneWhileABigLowOneKeepsTheQueueFull() throws Exception {
    renderDelayMillis = 50;
    try {
      // Uploads first, so the three jobs are submitted back to back while the low one is busy.
      List<FileRequest> lowFiles = upload(distributions, "Low", 3, 1);
      List<FileRequest> normalFiles = upload(distributions, "Normal", 2, 1);
      List<FileRequest> highFiles = upload(distributions, "High", 2, 1);
      var low = await(distributions.submit(new DistributionRequest(lowFiles, recipients("Low", 20), null, false, null,
          false, false, "low")));
      // The normal job is submitted first, the same size: only its priority lets the high one overtake it.
      var normal = await(distributions.submit(new DistributionRequest(normalFiles, recipients("Normal", 4), null,
          false, null, false)));
      var high = await(distributions.submit(new DistributionRequest(highFiles, recipients("High", 4), null, false,
          null, false, false, "high")));
      assertEquals("low", low.summary().priority());
      assertEquals("normal", normal.summary().priority());
      assertEquals("high", high.summary().priority());
      String lowId = low.summary().jobId();
      String normalId = normal.summary().jobId();
      String highId = high.summary().jobId();
      eventually("all three complete", Duration.ofSeconds(90), () ->
          summary(distributions, lowId).status().equals("completed")
              && summary(distributions, normalId).status().equals("completed")
              && summary(distributions, highId).status().equals("completed"));
      var highDone = summary(distributions, highId).finishedAt();
      var normalDone = summary(distributions, normalId).finishedAt();
      // Priority orders the render slots, so compare when each job's last render began. Finish
      // times follow the journal and the notifications: two jobs whose last copies are stored
      // moments apart can be recorded as finished in the same write, in either order.
      var highLastRender = lastRenderStarted(highId);
      var normalLastRender = lastRenderStarted(normalId);
      assertTrue(highLastRender.isBefore(normalLastRender),
          "high's last render began " + highLastRender + ", normal's " + normalLastRender);
      assertTrue(normalDone.isBefore(summary(distributions, lowId).finishedAt()), "the 60-item low job finishes last");
      var lowItems = assertInstanceOf(DistributionJob.ItemsPage.class, await(distributions.items(lowId, null, 0, 100))).items();
      var highCreated = high.summary().createdAt();
      // Counted from the high job's submission: what the low job finished before that depends on
      // the machine's load, not on the weights.
      long lowBeforeHigh = lowItems.stream()
          .filter(i -> i.updatedAt().isAfter(highCreated) && !i.updatedAt().isAfter(highDone)).count();
      // Weighted 4:2:1: the 8 high items wait for about one low item per four of their own, plus
      // what was already in flight (parallelism 2 x 4) when they arrived; not for the 60.
      assertTrue(lowBeforeHigh < 30, "low items done while the high job waited: " + lowBeforeHigh + " of 60");
    } finally {
      renderDelayMillis = 0;
    }
  }

  /** When the job's last render began (the test renderer records every start). */
  private static java.time.Instant lastRenderStarted(String jobId) {
    return RENDER_STARTED.entrySet().stream().filter(e -> e.getKey().startsWith(jobId + "/"))
        .map(Map.Entry::getValue).max(java.util.Comparator.naturalOrder()).orElseThrow();
  }

  @Test
  void pushIsRetriedWithBackoffAndAPermanentFailureIsRecordedOnTheItem() throws Exception {
    long failuresBefore = Metrics.count(DistributionWorker.METRIC_NOTIFICATION_FAILURES, Map.of("channel", "push"));
    List<FileRequest> files = upload(distributions, "Push", 1, 1);
    List<RecipientRequest> people = List.of(new RecipientRequest("Flaky Fay", "fay@example.com"),
        new RecipientRequest("Unreachable Uma", "uma@example.com",
            new DistributionRequest.PushTargetRequest("app-uma", null, null)),
        new RecipientRequest("Steady Sam", "sam@example.com"));
    var accepted = await(distributions.submit(new DistributionRequest(files, people, null, false, null, false, true,
        null)));
    String jobId = accepted.summary().jobId();
    assertTrue(accepted.summary().pushNotification());
    eventually("job finishes", Duration.ofSeconds(30), () -> summary(distributions, jobId).finishedAt() != null);
    DistributionJob.Summary s = summary(distributions, jobId);
    assertEquals("completed-with-errors", s.status());
    assertEquals(2, s.counts().get("completed"));
    assertEquals(1, s.counts().get("failed"));
    DistributionJob.ItemView failed = s.failures().get(0);
    assertEquals("f0-r1", failed.itemId());
    assertEquals("push", failed.failedStep());
    assertTrue(failed.lastError().contains("gave up after 3 attempts") && failed.lastError().contains("push gateway"),
        failed.lastError());
    String id = "<" + jobId + ".f0-r";
    assertEquals(3, PUSH_ATTEMPTS.get(id + "0@fleetplane>"), "two failures, then delivered on the third attempt");
    assertEquals(3, PUSH_ATTEMPTS.get(id + "1@fleetplane>"), "retried up to max-attempts");
    assertEquals(1, PUSH_ATTEMPTS.get(id + "2@fleetplane>"));
    List<PushNotifier.PushNotification> delivered = PUSHED.stream().filter(n -> n.jobId().equals(jobId)).toList();
    assertEquals(Set.of(id + "0@fleetplane>", id + "2@fleetplane>"),
        delivered.stream().map(PushNotifier.PushNotification::messageId).collect(Collectors.toSet()));
    assertTrue(delivered.stream().allMatch(n -> n.link().contains("/d/") && n.linkExpiresAt() != null));
    assertTrue(mailsFor(jobId).isEmpty(), "push only: no e-mail");
    assertEquals(5, Metrics.count(DistributionWorker.METRIC_NOTIFICATION_FAILURES, Map.of("channel", "push"))
        - failuresBefore, "every failed push attempt is counted: 2 (flaky) + 3 (unreachable)");
    // The item's notify record counts every delivery attempt.
    var items = assertInstanceOf(DistributionJob.ItemsPage.class, await(distributions.items(jobId, "completed", 0, 10)));
    assertEquals(4, items.items().stream().filter(i -> i.itemId().equals("f0-r0")).findFirst().orElseThrow().attempts(),
        "render once, push three times");
  }

  @Test
  void corruptSourceFailsItsItemsWithAReasonAndTheRestCompletes() throws Exception {
    List<FileRequest> files = upload(distributions, "Corrupt", 2, 1);
    Path onDisk = ((FileSystemDocumentStore) distributions.store()).path(files.get(1).documentId());
    Files.write(onDisk, "%PDF-1.7 rotten bits".getBytes());
    var accepted = await(distributions.submit(new DistributionRequest(files, recipients("Cor", 2), null, false, null, false)));
    String jobId = accepted.summary().jobId();
    eventually("job finishes", Duration.ofSeconds(30), () -> summary(distributions, jobId).finishedAt() != null);
    DistributionJob.Summary s = summary(distributions, jobId);
    assertEquals("completed-with-errors", s.status());
    assertEquals(2, s.counts().get("completed"));
    assertEquals(2, s.counts().get("failed"));
    for (DistributionJob.ItemView failure : s.failures()) {
      assertEquals("render", failure.failedStep());
      assertTrue(failure.lastError().startsWith("source-corrupt:"), failure.lastError());
      assertEquals(1, failure.attempts(), "a corrupt source is not retried");
      assertEquals(files.get(1).documentId(), failure.documentId());
    }
  }

  @Test
  void smtpOutageEndsInFailedNotificationsWithReasonsButCopiesAreMade() throws Exception {
    List<FileRequest> files = upload(distributions, "Outage", 1, 1);
    mail.stop();
    try {
      var accepted = await(distributions.submit(new DistributionRequest(files, recipients("Out", 2), null, true, null, true)));
      String jobId = accepted.summary().jobId();
      eventually("job finishes", Duration.ofSeconds(30), () -> summary(distributions, jobId).finishedAt() != null);
      DistributionJob.Summary s = summary(distributions, jobId);
      assertEquals("completed-with-errors", s.status());
      assertEquals(2, s.counts().get("failed"));
      for (DistributionJob.ItemView failure : s.failures()) {
        assertEquals("notify", failure.failedStep());
        assertTrue(failure.lastError().startsWith("gave up after 3 attempts"), failure.lastError());
        assertTrue(failure.lastError().contains("SMTP delivery to out"), failure.lastError());
        assertNotNull(failure.copyDocumentId(), "the copy was made before the notification failed");
        assertTrue(!failure.lastError().contains(distributions.passwordFor(jobId, failure.recipientId())),
            "no password in the reason");
      }
    } finally {
      mail = DistributionFixture.startSmtp(smtpPort);
    }
  }

  @Test
  void crashMidJobResumesOnANewNodeWithoutRenderingFinishedItemsAgain() throws Exception {
    PostgresEndpoint crashDb = TestPostgres.newSchema();
    DistributionFixture.migrate(crashDb);
    Path crashStore = Files.createTempDirectory("fp-distribution-crash-");
    Map<String, Object> config = DistributionFixture.config(crashDb, crashStore, smtpPort, 2);
    // Few copies may wait for the journal, so the bound on renders repeated after the crash
    // (below) stays well under the job's 20 items.
    config.put("fleetplane.jobs.distribution.awaiting-results", 4);
    ActorSystem<Void> first = DistributionFixture.startNode(config, COUNTING, PUSH);
    String jobId;
    Set<String> doneBeforeCrash;
    renderDelayMillis = 100;
    try {
      Distributions d1 = Distributions.get(first);
      List<FileRequest> files = upload(d1, "Crash", 4, 2);
      jobId = await(d1.submit(new DistributionRequest(files, recipients("Crash", 5), null, true, null, true, true,
          null))).summary().jobId();
      String id = jobId;
      eventually("some items done", Duration.ofSeconds(30), () -> summary(d1, id).counts().get("completed") >= 5);
      doneBeforeCrash = assertInstanceOf(DistributionJob.ItemsPage.class, await(d1.items(jobId, "completed", 0, 100)))
          .items().stream().map(DistributionJob.ItemView::itemId).collect(Collectors.toSet());
      assertTrue(summary(d1, jobId).counts().get("pending") > 0, "the crash really is mid-job");
    } finally {
      DistributionFixture.stop(first);
    }
    renderDelayMillis = 0;
    ActorSystem<Void> second = DistributionFixture.startNode(config, COUNTING, PUSH);
    try {
      Distributions d2 = Distributions.get(second);
      String id = jobId;
      // Nobody asks about the job: the node resumes it on its own.
      eventually("job completes after restart", Duration.ofSeconds(60), () -> {
        try {
          var reply = DistributionFixture.await(d2.summary(id));
          return reply instanceof DistributionJob.SummaryFound f && f.summary().status().equals("completed");
        } catch (Exception e) {
          return false;
        }
      });
      assertEquals(20, summary(d2, jobId).counts().get("completed"));
      for (String item : doneBeforeCrash) {
        assertEquals(1, RENDERS.get(jobId + "/" + item), item + " was finished before the crash and rendered once");
      }
      long renderedTwice = RENDERS.entrySet().stream()
          .filter(e -> e.getKey().startsWith(jobId + "/") && e.getValue() > 1).count();
      DistributionSettings settings = Distributions.get(second).settings();
      // Rendering, or rendered and waiting for the journal, + the one prefetched.
      int admitted = settings.parallelism() * settings.inFlightPerThread() + settings.awaitingResults() + 1;
      assertTrue(renderedTwice <= admitted, "only items in flight at the crash may render again: " + renderedTwice);
      // No notification lost: every item's stable Message-ID arrived at least once.
      Set<String> ids = new java.util.HashSet<>();
      for (MimeMessage m : mailsFor(jobId)) {
        ids.add(m.getMessageID());
      }
      assertEquals(20, ids.size(), "one distinct message per item");
      // Push rides the same outbox: every item pushed at least once, any repeat with the e-mail's id.
      Map<String, Set<String>> pushIdsByItem = PUSHED.stream().filter(n -> n.jobId().equals(id))
          .collect(Collectors.groupingBy(PushNotifier.PushNotification::itemId,
              Collectors.mapping(PushNotifier.PushNotification::messageId, Collectors.toSet())));
      assertEquals(20, pushIdsByItem.size(), "every item pushed: " + pushIdsByItem.keySet());
      for (var entry : pushIdsByItem.entrySet()) {
        assertEquals(Set.of("<" + id + "." + entry.getKey() + "@fleetplane>"), entry.getValue());
        assertTrue(ids.contains("<" + id + "." + entry.getKey() + "@fleetplane>"), "the same id as its e-mail");
      }
    } finally {
      DistributionFixture.stop(second);
      TestPostgres.dropSchema(crashDb);
    }
  }
}
