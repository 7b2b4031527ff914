package io.fleetplane.bridge;

import java.time.Duration;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;

/**
 * Logs at most one WARN per key per interval and reports how many were suppressed, so one device
 * spamming bad payloads cannot flood the log (the metric still counts every one).
 */
public final class RateLimitedLog {
  private final Logger log;
  private final long intervalNanos;
  private final ConcurrentHashMap<String, Window> windows = new ConcurrentHashMap<>();

  private static final class Window {
    volatile long openedAt;
    final AtomicLong suppressed = new AtomicLong();

    Window(long openedAt) {
      this.openedAt = openedAt;
    }
  }

  public RateLimitedLog(Logger log, Duration interval) {
    this.log = log;
    this.intervalNanos = interval.toNanos();
  }

  public void warn(String key, String message, Object... args) {
    long now = System.nanoTime();
    Window window = windows.computeIfAbsent(key, k -> new Window(now - intervalNanos));
    synchronized (window) {
      if (now - window.openedAt < intervalNanos) {
        window.suppressed.incrementAndGet();
        return;
      }
      window.openedAt = now;
    }
    long suppressed = window.suppressed.getAndSet(0);
    if (suppressed > 0) {
      log.warn("[{} similar warnings for {} suppressed] " + message, prepend(suppressed, key, args));
    } else {
      log.warn(message, args);
    }
  }

  private static Object[] prepend(long suppressed, String key, Object[] args) {
    Object[] all = new Object[args.length + 2];
    all[0] = suppressed;
    all[1] = key;
    System.arraycopy(args, 0, all, 2, args.length);
    return all;
  }
}
