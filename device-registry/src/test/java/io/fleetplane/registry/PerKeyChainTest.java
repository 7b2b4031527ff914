package io.fleetplane.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/** Per-session ordering of the ingest's in-flight records, without Kafka or actors. */
class PerKeyChainTest {

  /** Work whose start is recorded and whose completion the test controls. */
  private static final class Step implements Supplier<CompletionStage<String>> {
    final String name;
    final List<String> started;
    final CompletableFuture<String> done = new CompletableFuture<>();

    Step(String name, List<String> started) {
      this.name = name;
      this.started = started;
    }

    @Override
    public CompletionStage<String> get() {
      synchronized (started) {
        started.add(name);
      }
      return done;
    }
  }

  private final List<String> started = new ArrayList<>();
  private final PerKeyChain<String> chain = new PerKeyChain<>();

  @Test
  void aKeysNextWorkStartsOnlyAfterThePreviousCompletedWhileOtherKeysRunAtOnce() throws Exception {
    Step a1 = new Step("a1", started);
    Step b1 = new Step("b1", started);
    Step a2 = new Step("a2", started);
    Step a3 = new Step("a3", started);
    CompletionStage<String> r1 = chain.submit("a", a1);
    chain.submit("b", b1);
    CompletionStage<String> r2 = chain.submit("a", a2);
    CompletionStage<String> r3 = chain.submit("a", a3);
    assertEquals(List.of("a1", "b1"), started, "b runs beside a; a2 waits for a1");

    a1.done.complete("one");
    assertEquals("one", r1.toCompletableFuture().get(1, TimeUnit.SECONDS));
    assertEquals(List.of("a1", "b1", "a2"), started, "a3 still waits for a2");
    a2.done.complete("two");
    assertEquals(List.of("a1", "b1", "a2", "a3"), started);
    a3.done.complete("three");
    assertEquals("two", r2.toCompletableFuture().get(1, TimeUnit.SECONDS));
    assertEquals("three", r3.toCompletableFuture().get(1, TimeUnit.SECONDS));
  }

  @Test
  void aFailureFailsEveryLaterWorkOfItsKeyUnstartedAndSparesOtherKeys() {
    Step a1 = new Step("a1", started);
    Step a2 = new Step("a2", started);
    Step a3 = new Step("a3", started);
    Step b1 = new Step("b1", started);
    chain.submit("a", a1);
    CompletionStage<String> r2 = chain.submit("a", a2);
    CompletionStage<String> r3 = chain.submit("a", a3);
    CompletionStage<String> rb = chain.submit("b", b1);

    a1.done.completeExceptionally(new IllegalStateException("persist failed"));
    assertEquals(List.of("a1", "b1"), started, "nothing queued behind the failed work was started");
    assertFailsWith(r2, "persist failed");
    assertFailsWith(r3, "persist failed");
    b1.done.complete("ok");
    assertEquals("ok", rb.toCompletableFuture().join());
  }

  @Test
  void workSubmittedLongAfterItsKeyFailedStillFailsUnstarted() {
    Step a1 = new Step("a1", started);
    chain.submit("a", a1);
    a1.done.completeExceptionally(new IllegalStateException("ask timed out"));
    Step a2 = new Step("a2", started);
    CompletionStage<String> late = chain.submit("a", a2);
    assertFailsWith(late, "ask timed out");
    assertEquals(List.of("a1"), started, "a record of a failed session never overtakes the failed one");
  }

  @Test
  void workThatThrowsInsteadOfReturningAStageFailsItsResult() {
    CompletionStage<String> thrown = chain.submit("a", () -> {
      throw new IllegalArgumentException("bug");
    });
    Step a2 = new Step("a2", started);
    CompletionStage<String> next = chain.submit("a", a2);
    ExecutionException error = org.junit.jupiter.api.Assertions.assertThrows(ExecutionException.class,
        () -> thrown.toCompletableFuture().get(1, TimeUnit.SECONDS));
    assertInstanceOf(IllegalArgumentException.class, error.getCause());
    assertFailsWith(next, "bug");
    assertEquals(List.of(), started);
  }

  @Test
  void keysAreForgottenOnceTheirWorkIsDoneAndNullKeysAreNeverChained() {
    Step a1 = new Step("a1", started);
    Step a2 = new Step("a2", started);
    chain.submit("a", a1);
    chain.submit("a", a2);
    assertEquals(1, chain.keysInFlight());
    a1.done.complete("x");
    assertEquals(1, chain.keysInFlight(), "a2 still in flight");
    a2.done.complete("y");
    assertEquals(0, chain.keysInFlight(), "no entry outlives the work");

    Step n1 = new Step("n1", started);
    Step n2 = new Step("n2", started);
    chain.submit(null, n1);
    chain.submit(null, n2);
    assertEquals(List.of("a1", "a2", "n1", "n2"), started, "records without a key do not wait for each other");
    assertEquals(0, chain.keysInFlight());
  }

  private static void assertFailsWith(CompletionStage<String> stage, String rootMessage) {
    Executable get = () -> stage.toCompletableFuture().get(1, TimeUnit.SECONDS);
    ExecutionException error = org.junit.jupiter.api.Assertions.assertThrows(ExecutionException.class, get);
    assertInstanceOf(PerKeyChain.PredecessorFailedException.class, error.getCause());
    assertTrue(error.getCause().getCause().getMessage().contains(rootMessage), error.getCause().toString());
  }
}
