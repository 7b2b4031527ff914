package io.fleetplane.bridge.domain;

import java.time.Duration;

/**
 * Tells whether Kafka is stalled: messages are in flight and none has been acknowledged for at
 * least the stall timeout. Idle is not stalled: with nothing in flight there is nothing to wait
 * for, so the clock starts when the first message of a busy period is handed to Kafka.
 *
 * <p>Thread-safe; time is passed in (nanoseconds) so tests need no real clock.
 */
public final class ProgressWatch {

  private final long stallNanos;
  private long lastProgressNanos; // guarded by this
  private int inFlight; // guarded by this
  private int highWaterMark; // guarded by this

  public ProgressWatch(Duration stallTimeout, long nowNanos) {
    this.stallNanos = stallTimeout.toNanos();
    this.lastProgressNanos = nowNanos;
  }

  /** A message was handed to the Kafka side. */
  public synchronized void enqueued(long nowNanos) {
    if (inFlight == 0) {
      lastProgressNanos = nowNanos;
    }
    inFlight++;
    highWaterMark = Math.max(highWaterMark, inFlight);
  }

  /** Kafka acknowledged a message (or it left the stream without needing Kafka). */
  public synchronized void completed(long nowNanos) {
    inFlight = Math.max(0, inFlight - 1);
    lastProgressNanos = nowNanos;
  }

  /** Messages that will never complete because their stream died; the broker redelivers them. */
  public synchronized void abandoned(int count, long nowNanos) {
    inFlight = Math.max(0, inFlight - count);
    if (inFlight == 0) {
      lastProgressNanos = nowNanos;
    }
  }

  public synchronized int inFlight() {
    return inFlight;
  }

  /** The most messages ever in flight at once since start. */
  public synchronized int highWaterMark() {
    return highWaterMark;
  }

  /** How long in-flight messages have waited without any acknowledgement (zero when idle). */
  public synchronized Duration waitingFor(long nowNanos) {
    return inFlight == 0 ? Duration.ZERO : Duration.ofNanos(Math.max(0, nowNanos - lastProgressNanos));
  }

  public synchronized boolean stalled(long nowNanos) {
    return inFlight > 0 && nowNanos - lastProgressNanos >= stallNanos;
  }
}
