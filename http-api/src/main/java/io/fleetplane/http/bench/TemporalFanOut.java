package io.fleetplane.http.bench;

import io.temporal.activity.ActivityInterface;
import io.temporal.activity.ActivityMethod;
import io.temporal.activity.ActivityOptions;
import io.temporal.client.WorkflowClient;
import io.temporal.client.WorkflowOptions;
import io.temporal.client.WorkflowStub;
import io.temporal.testing.TestEnvironmentOptions;
import io.temporal.testing.TestWorkflowEnvironment;
import io.temporal.worker.Worker;
import io.temporal.workflow.Async;
import io.temporal.workflow.ChildWorkflowOptions;
import io.temporal.workflow.Promise;
import io.temporal.workflow.Workflow;
import io.temporal.workflow.WorkflowInterface;
import io.temporal.workflow.WorkflowMethod;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The benchmark's peer: Temporal's in-process test server ({@code temporal-testing}, the Java test
 * service, no external binary) and one worker, running the same shape as a Fleetplane foreach: a
 * parent workflow starts N child workflows with at most {@code concurrency} running at once, and
 * each child runs one no-op activity (Fleetplane's iteration is a child instance running one
 * {@code noop} step). Time skipping is off: nothing waits on timers, and wall time must be real.
 *
 * <p>One environment per measured run, closed afterwards: the test server keeps every finished
 * execution's history in memory, which would otherwise inflate the heap of the runs after it.
 */
final class TemporalFanOut implements AutoCloseable {

  static final String TASK_QUEUE = "fleetplane-bench";

  @WorkflowInterface
  public interface FanOut {
    /** Runs {@code children} children, at most {@code concurrency} at once; returns how many succeeded. */
    @WorkflowMethod
    int run(int children, int concurrency);
  }

  @WorkflowInterface
  public interface Child {
    @WorkflowMethod
    int run(int index);
  }

  @ActivityInterface
  public interface Noop {
    @ActivityMethod
    int noop(int index);
  }

  /** Keeps a window of running children, as Fleetplane's foreach keeps its running indices. */
  public static class FanOutImpl implements FanOut {
    @Override
    public int run(int children, int concurrency) {
      String parentId = Workflow.getInfo().getWorkflowId();
      List<Promise<Integer>> running = new ArrayList<>();
      int succeeded = 0;
      for (int i = 0; i < children; i++) {
        if (running.size() >= concurrency) {
          Promise.anyOf(running).get();
          succeeded += collectFinished(running);
        }
        // Child ids are predictable so the benchmark can read one child's history afterwards.
        Child child = Workflow.newChildWorkflowStub(Child.class,
            ChildWorkflowOptions.newBuilder().setWorkflowId(parentId + "-" + i).build());
        running.add(Async.function(child::run, i));
      }
      Promise.allOf(running).get();
      return succeeded + collectFinished(running);
    }

    private static int collectFinished(List<Promise<Integer>> running) {
      int done = 0;
      for (var it = running.iterator(); it.hasNext(); ) {
        Promise<Integer> p = it.next();
        if (p.isCompleted()) {
          p.get(); // rethrows a failed child, failing the parent: the benchmark must not count it
          done++;
          it.remove();
        }
      }
      return done;
    }
  }

  public static class ChildImpl implements Child {
    private final Noop noop = Workflow.newActivityStub(Noop.class,
        ActivityOptions.newBuilder().setStartToCloseTimeout(Duration.ofMinutes(1)).build());

    @Override
    public int run(int index) {
      return noop.noop(index);
    }
  }

  /** Counts completions for the progress line; returns its input, as a noop step outputs its params. */
  static final class NoopImpl implements Noop {
    private final AtomicInteger done;

    NoopImpl(AtomicInteger done) {
      this.done = done;
    }

    @Override
    public int noop(int index) {
      done.incrementAndGet();
      return index;
    }
  }

  private final TestWorkflowEnvironment env;
  private final AtomicInteger activitiesDone = new AtomicInteger();

  /** Starts the in-process test server and a worker for the fan-out (not part of the measured time). */
  TemporalFanOut() {
    env = TestWorkflowEnvironment.newInstance(TestEnvironmentOptions.newBuilder().setUseTimeskipping(false).build());
    Worker worker = env.newWorker(TASK_QUEUE);
    worker.registerWorkflowImplementationTypes(FanOutImpl.class, ChildImpl.class);
    worker.registerActivitiesImplementations(new NoopImpl(activitiesDone));
    env.start();
  }

  /** Child activities finished so far (progress only). */
  int activitiesDone() {
    return activitiesDone.get();
  }

  /** Starts the parent; the future completes with the number of children that succeeded. */
  CompletableFuture<Integer> start(String workflowId, int children, int concurrency) {
    FanOut parent = env.getWorkflowClient().newWorkflowStub(FanOut.class,
        WorkflowOptions.newBuilder().setTaskQueue(TASK_QUEUE).setWorkflowId(workflowId).build());
    WorkflowClient.start(parent::run, children, concurrency);
    return WorkflowStub.fromTyped(parent).getResultAsync(Integer.class);
  }

  /** Events in one execution's history. */
  int historyEvents(String workflowId) {
    return env.getWorkflowClient().fetchHistory(workflowId).getEvents().size();
  }

  @Override
  public void close() {
    env.close();
  }
}
