package io.fleetplane.jobs.distribution.domain;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fleetplane.config.ErrorCode;
import io.fleetplane.config.InvalidInputException;
import io.fleetplane.jobs.distribution.domain.DistributionRequest.FileRequest;
import io.fleetplane.jobs.distribution.domain.DistributionRequest.RecipientRequest;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

class DistributionDomainTest {

  private static DistributionRequest request(List<FileRequest> files, List<RecipientRequest> recipients, String template) {
    return new DistributionRequest(files, recipients, template, true, null, true);
  }

  private static final List<FileRequest> TWO_FILES = List.of(new FileRequest("a".repeat(64), "ep1.pdf"),
      new FileRequest("b".repeat(64), null));
  private static final List<RecipientRequest> THREE = List.of(new RecipientRequest("Ada", "ada@example.com"),
      new RecipientRequest("Grace", "grace@example.com"), new RecipientRequest("Linus", "linus@example.com"));

  @Test
  void itemsAreFilesTimesRecipientsWithDeterministicIds() {
    DistributionSpec spec = request(TWO_FILES, THREE, null).validate(100, 3600);
    List<String> ids = spec.items().stream().map(DistributionSpec.ItemRef::itemId).toList();
    assertEquals(List.of("f0-r0", "f0-r1", "f0-r2", "f1-r0", "f1-r1", "f1-r2"), ids);
    assertEquals(ids, request(TWO_FILES, THREE, null).validate(100, 3600).items().stream()
        .map(DistributionSpec.ItemRef::itemId).toList(), "same request, same ids");
    assertEquals("b".repeat(64) + ".pdf", spec.files().get(1).name());
    assertEquals(WatermarkTemplate.DEFAULT, spec.options().watermarkTemplate());
    assertEquals(3600, spec.options().linkTtlSeconds());
  }

  @Test
  void badRequestsFailWithTheirOwnCodes() {
    assertCode(ErrorCode.DISTRIBUTION_FILES_EMPTY, request(List.of(), THREE, null), 100);
    assertCode(ErrorCode.DISTRIBUTION_RECIPIENTS_EMPTY, request(TWO_FILES, List.of(), null), 100);
    assertCode(ErrorCode.DISTRIBUTION_RECIPIENT_DUPLICATE, request(TWO_FILES, List.of(
        new RecipientRequest("Ada", "ada@example.com"), new RecipientRequest("Ada L.", "ADA@example.com")), null), 100);
    assertCode(ErrorCode.DISTRIBUTION_RECIPIENT_INVALID, request(TWO_FILES, List.of(
        new RecipientRequest("Ada", "not-an-address")), null), 100);
    assertCode(ErrorCode.DISTRIBUTION_TOO_MANY_ITEMS, request(TWO_FILES, THREE, null), 5);
    assertCode(ErrorCode.DISTRIBUTION_TEMPLATE_INVALID, request(TWO_FILES, THREE, "{recipient.nmae}"), 100);
    InvalidInputException e = assertThrows(InvalidInputException.class,
        () -> request(TWO_FILES, THREE, null).validate(5, 60));
    assertTrue(e.getMessage().contains("2 files x 3 recipients = 6"), e.getMessage());
  }

  private static void assertCode(ErrorCode code, DistributionRequest request, int maxItems) {
    assertEquals(code, assertThrows(InvalidInputException.class, () -> request.validate(maxItems, 60)).errorCode());
  }

  @Test
  void templateFillsKnownPlaceholders() {
    assertEquals("Ada - ada@x.io - 2026-11-23", WatermarkTemplate.render(WatermarkTemplate.DEFAULT,
        Map.of("recipient.name", "Ada", "recipient.email", "ada@x.io", "date", "2026-11-23")));
  }

  @Test
  void secretsAreStablePerRecipientAndFingerprintsIdentifyOnlyTheirOwn() {
    DistributionSecrets secrets = new DistributionSecrets("0123456789abcdef-test");
    String job = "3f2b8c1e-9a4d-4e7b-8c2a-1d5e6f7a8b9c";
    assertEquals(secrets.password(job, "r1"), secrets.password(job, "r1"));
    assertFalse(secrets.password(job, "r1").equals(secrets.password(job, "r2")));
    String fp = secrets.fingerprint(job, "r7");
    assertEquals(new DistributionSecrets.Identified(job, "r7"), secrets.identify(fp).orElseThrow());
    assertTrue(secrets.identify(fp.replace(".r7.", ".r8.")).isEmpty(), "a forged recipient is not identified");
    assertTrue(new DistributionSecrets("another-key-0123456789").identify(fp).isEmpty());
    String token = secrets.linkToken(job, "f0-r7");
    assertEquals(List.of(job, "f0-r7"), List.of(DistributionSecrets.parseToken(token).orElseThrow()).subList(0, 2));
  }

  record T(String job, String item) {}

  @Test
  void fairQueueAlternatesBetweenJobsAndDeduplicates() {
    FairQueue<T> q = new FairQueue<>(T::job, t -> t.job() + "/" + t.item());
    List<T> big = new ArrayList<>();
    for (int i = 0; i < 100; i++) {
      big.add(new T("big", "i" + i));
    }
    assertEquals(100, q.offer(big));
    assertEquals(0, q.offer(big.subList(0, 10)), "queued keys are not queued twice");
    List<T> taken = new ArrayList<>();
    taken.add(take(q));
    taken.add(take(q));
    q.offer(List.of(new T("small", "a"), new T("small", "b")));
    for (int i = 0; i < 4; i++) {
      taken.add(take(q));
    }
    // After the small job arrives, it gets every other slot.
    assertEquals(List.of("big", "big", "big", "small", "big", "small"), taken.stream().map(T::job).toList());
    assertEquals(0, q.offer(List.of(taken.get(0))), "running keys are not queued again");
    q.done(taken.get(0));
    assertEquals(1, q.offer(List.of(taken.get(0))), "finished keys may come back");
    assertEquals(97, q.removeGroup("big"), "96 never taken plus the one queued again");
    assertEquals(0, q.queued());
    CompletableFuture<T> waiting = q.take().toCompletableFuture();
    assertFalse(waiting.isDone());
    q.offer(List.of(new T("late", "x")));
    assertEquals("late", waiting.join().job());
  }

  private record P(String job, String item, int level) {}

  @Test
  void fairQueueWeighsLevelsFourTwoOneAndStarvesNone() {
    FairQueue<P> q = new FairQueue<>(P::job, p -> p.job() + "/" + p.item(), P::level, new int[] {4, 2, 1});
    List<P> tasks = new ArrayList<>();
    for (int i = 0; i < 20; i++) {
      tasks.add(new P("low", "l" + i, 2));
      tasks.add(new P("normal", "n" + i, 1));
      tasks.add(new P("high", "h" + i, 0));
    }
    q.offer(tasks);
    List<String> order = new ArrayList<>();
    for (int i = 0; i < 14; i++) {
      order.add(q.take().toCompletableFuture().join().job());
    }
    // Smooth weighted round-robin: high first, low still gets one slot in seven.
    List<String> round = List.of("high", "normal", "high", "low", "high", "normal", "high");
    List<String> twoRounds = new ArrayList<>(round);
    twoRounds.addAll(round);
    assertEquals(twoRounds, order);
    // A level without work gives its turns away: only low left means low every time.
    q.removeGroup("high");
    q.removeGroup("normal");
    assertEquals("low", q.take().toCompletableFuture().join().job());
    assertEquals("low", q.take().toCompletableFuture().join().job());
    // Two jobs on one level still alternate; a high job arriving late goes next.
    q.offer(List.of(new P("low2", "a", 2), new P("low2", "b", 2)));
    assertEquals(List.of("low", "low2"), List.of(q.take().toCompletableFuture().join().job(),
        q.take().toCompletableFuture().join().job()));
    q.offer(List.of(new P("urgent", "u", 0)));
    assertEquals("urgent", q.take().toCompletableFuture().join().job());
  }

  @Test
  void priorityDefaultsToNormalAndRejectsUnknownLevels() {
    DistributionSpec spec = request(TWO_FILES, THREE, null).validate(100, 3600);
    assertEquals(DistributionPriority.NORMAL, spec.options().priorityLevel());
    assertEquals("normal", spec.options().priority());
    DistributionSpec high = new DistributionRequest(TWO_FILES, THREE, null, false, null, true, null, "HIGH")
        .validate(100, 3600);
    assertEquals(DistributionPriority.HIGH, high.options().priorityLevel());
    InvalidInputException e = assertThrows(InvalidInputException.class,
        () -> new DistributionRequest(TWO_FILES, THREE, null, false, null, true, null, "urgent").validate(100, 3600));
    assertEquals(ErrorCode.DISTRIBUTION_PRIORITY_INVALID, e.errorCode());
    assertTrue(e.getMessage().contains("[high, normal, low]"), e.getMessage());
  }

  @Test
  void pushTargetsAreOptionalAndCheckedPrecisely() {
    String session = "3f2b8c1e-9a4d-4e7b-8c2a-1d5e6f7a8b9c";
    List<RecipientRequest> people = List.of(
        new RecipientRequest("Ada", "ada@example.com", new DistributionRequest.PushTargetRequest(null, "RAE-1", session)),
        new RecipientRequest("Grace", "grace@example.com", new DistributionRequest.PushTargetRequest("app-7", null, null)),
        new RecipientRequest("Linus", "linus@example.com"));
    DistributionSpec spec = new DistributionRequest(TWO_FILES, people, null, false, null, false, true, null)
        .validate(100, 3600);
    assertTrue(spec.options().pushNotification());
    assertTrue(spec.options().notifies(), "push alone is a notify step");
    assertEquals(new PushTarget(null, "RAE-1", session), spec.recipient("r0").pushTarget());
    assertEquals(new PushTarget("app-7", null, null), spec.recipient("r1").pushTarget());
    assertEquals(null, spec.recipient("r2").pushTarget());
    for (var bad : List.of(new DistributionRequest.PushTargetRequest(null, null, null),
        new DistributionRequest.PushTargetRequest(null, "RAE-1", null),
        new DistributionRequest.PushTargetRequest(null, "RAE-1", "NOT-A-UUID"),
        new DistributionRequest.PushTargetRequest(null, "bad serial!", session),
        new DistributionRequest.PushTargetRequest("x\u0000y", null, null))) {
      assertCode(ErrorCode.DISTRIBUTION_PUSH_TARGET_INVALID, new DistributionRequest(TWO_FILES,
          List.of(new RecipientRequest("Ada", "ada@example.com", bad)), null, false, null, false, true, null), 100);
    }
    // Passwords go by e-mail only, so a protected push-only job could never be opened.
    assertCode(ErrorCode.DISTRIBUTION_OPTIONS_INVALID,
        new DistributionRequest(TWO_FILES, THREE, null, true, null, false, true, null), 100);
  }

  private static T take(FairQueue<T> q) {
    return q.take().toCompletableFuture().join();
  }
}
