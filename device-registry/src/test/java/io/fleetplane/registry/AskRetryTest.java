package io.fleetplane.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;

import akka.pattern.AskTimeoutException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/** A session that does not answer in time is asked again before the consumer gives up. */
class AskRetryTest {

  /** Fails with an ask timeout the first {@code timeouts} times, then answers with its call count. */
  private static Supplier<CompletionStage<Integer>> answeringAfter(int timeouts, AtomicInteger calls) {
    return () -> {
      int call = calls.incrementAndGet();
      return call <= timeouts
          ? CompletableFuture.failedFuture(new AskTimeoutException("no answer to call " + call))
          // As an ask composed further would deliver it: wrapped.
          : CompletableFuture.completedFuture(call).thenApply(n -> n);
    };
  }

  @Test
  void timeoutsAreAskedAgainUntilTheSessionAnswers() throws Exception {
    AtomicInteger calls = new AtomicInteger();
    List<Integer> retriesLeft = new ArrayList<>();
    int answer = DeviceEventsIngest.retryingAskTimeouts(answeringAfter(2, calls), 2, retriesLeft::add)
        .toCompletableFuture().get(5, TimeUnit.SECONDS);
    assertEquals(3, answer, "answered on the third ask");
    assertEquals(List.of(1, 0), retriesLeft);
  }

  @Test
  void afterTheLastRetryTheTimeoutFailsTheRecord() {
    AtomicInteger calls = new AtomicInteger();
    ExecutionException e = assertThrows(ExecutionException.class, () -> DeviceEventsIngest
        .retryingAskTimeouts(answeringAfter(3, calls), 2, left -> {}).toCompletableFuture().get(5, TimeUnit.SECONDS));
    assertInstanceOf(AskTimeoutException.class, e.getCause());
    assertEquals(3, calls.get(), "one ask and two retries");
  }

  @Test
  void otherFailuresAreNotRetried() {
    AtomicInteger calls = new AtomicInteger();
    Supplier<CompletionStage<Integer>> failing = () -> {
      calls.incrementAndGet();
      return CompletableFuture.<Integer>failedFuture(new IllegalStateException("journal down"))
          .thenApply(n -> n);
    };
    ExecutionException e = assertThrows(ExecutionException.class, () -> DeviceEventsIngest
        .retryingAskTimeouts(failing, 2, left -> {}).toCompletableFuture().get(5, TimeUnit.SECONDS));
    assertInstanceOf(IllegalStateException.class, e.getCause());
    assertEquals(1, calls.get());
  }
}
