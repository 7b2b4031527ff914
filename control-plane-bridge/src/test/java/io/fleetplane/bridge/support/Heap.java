package io.fleetplane.bridge.support;

import java.lang.management.ManagementFactory;

/** Heap in use after garbage collection: what is really retained, not what awaits collection. */
public final class Heap {

  private Heap() {}

  public static long usedAfterGc() {
    for (int i = 0; i < 3; i++) {
      System.gc();
      Poll.pause(50);
    }
    return ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
  }

  public static String mib(long bytes) {
    return String.format(java.util.Locale.ROOT, "%.1f MiB", bytes / 1024.0 / 1024.0);
  }
}
