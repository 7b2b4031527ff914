package io.fleetplane.testkit.device;

import java.util.List;
import java.util.concurrent.AbstractExecutorService;
import java.util.concurrent.Callable;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Threads shared by many simulated devices in one JVM (a canary runs thousands).
 *
 * <p>On its own, every Paho client starts a thread for its receiver, its sender, its callbacks
 * and its connect, plus a timer thread for keep-alive pings, and every {@link DeviceSimulator} a
 * scheduler thread: five threads created and destroyed per short-lived device. Given this, Paho
 * runs its loops on a cached pool (a device that disconnected hands its threads to the next one)
 * and its pings, like the simulators' delayed replies, on one timer thread.
 *
 * <p>The pool must grow without bound: each connected client holds three of its threads for as
 * long as it is connected (Paho's loops block on the socket), so a bounded pool would stall new
 * connections. Close it after the last client closed.
 */
public final class MqttClientThreads implements AutoCloseable {

  private final ThreadPoolExecutor loops;
  private final ScheduledThreadPoolExecutor timer;
  private final ScheduledExecutorService executor;

  public MqttClientThreads(String name) {
    AtomicInteger loopThreads = new AtomicInteger();
    this.loops = new ThreadPoolExecutor(0, Integer.MAX_VALUE, 30, TimeUnit.SECONDS, new SynchronousQueue<>(),
        r -> daemon(r, name + "-mqtt-" + loopThreads.incrementAndGet()));
    this.timer = new ScheduledThreadPoolExecutor(1, r -> daemon(r, name + "-mqtt-timer"));
    timer.setRemoveOnCancelPolicy(true);
    this.executor = new LoopsAndTimer();
  }

  /** For Paho's clients (their loops and pings) and the simulators' delayed work. */
  public ScheduledExecutorService executor() {
    return executor;
  }

  /** Threads alive in the pool now (for diagnostics). */
  public int poolSize() {
    return loops.getPoolSize();
  }

  @Override
  public void close() {
    loops.shutdown();
    timer.shutdown();
  }

  private static Thread daemon(Runnable r, String name) {
    Thread t = new Thread(r, name);
    t.setDaemon(true);
    return t;
  }

  /** Runs what is submitted on the cached pool and what is scheduled on the timer thread. */
  private final class LoopsAndTimer extends AbstractExecutorService implements ScheduledExecutorService {

    @Override
    public void execute(Runnable command) {
      loops.execute(command);
    }

    @Override
    public ScheduledFuture<?> schedule(Runnable command, long delay, TimeUnit unit) {
      return timer.schedule(command, delay, unit);
    }

    @Override
    public <V> ScheduledFuture<V> schedule(Callable<V> callable, long delay, TimeUnit unit) {
      return timer.schedule(callable, delay, unit);
    }

    @Override
    public ScheduledFuture<?> scheduleAtFixedRate(Runnable command, long initialDelay, long period, TimeUnit unit) {
      return timer.scheduleAtFixedRate(command, initialDelay, period, unit);
    }

    @Override
    public ScheduledFuture<?> scheduleWithFixedDelay(Runnable command, long initialDelay, long delay, TimeUnit unit) {
      return timer.scheduleWithFixedDelay(command, initialDelay, delay, unit);
    }

    // A client must not shut down threads other clients use: only MqttClientThreads.close does.
    @Override
    public void shutdown() {}

    @Override
    public List<Runnable> shutdownNow() {
      return List.of();
    }

    @Override
    public boolean isShutdown() {
      return loops.isShutdown();
    }

    @Override
    public boolean isTerminated() {
      return loops.isTerminated() && timer.isTerminated();
    }

    @Override
    public boolean awaitTermination(long timeout, TimeUnit unit) throws InterruptedException {
      long deadline = System.nanoTime() + unit.toNanos(timeout);
      return loops.awaitTermination(timeout, unit)
          && timer.awaitTermination(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
    }
  }
}
