package io.fleetplane.bridge.command;

import java.time.Duration;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;

/**
 * At most one WARN per key per interval, with the number suppressed since, so one device sending
 * garbage cannot flood the log (the metrics still count every message). Same behaviour as the
 * device->cloud bridge's {@code RateLimitedLog}, which is package-private to its package.
 */
final class WarnLimiter {
  private final Logger log;
  private final long intervalNanos;
  private final ConcurrentHashMap<String, Window> windows = new ConcurrentHashMap<>();

  private static final class Window {
    long openedAt;
    final AtomicLong suppressed = new AtomicLong();

    Window(long openedAt) {
      this.openedAt = openedAt;
    }
  }

  WarnLimiter(Logger log, Duration interval) {
    this.log = log;
    this.intervalNanos = interval.toNanos();
  }

  void warn(String key, String message, Object... args) {
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
      Object[] all = new Object[args.length + 2];
      all[0] = suppressed;
      all[1] = key;
      System.arraycopy(args, 0, all, 2, args.length);
      log.warn("[{} similar warnings ({}) suppressed] " + message, all);
    } else {
      log.warn(message, args);
    }
  }
}
