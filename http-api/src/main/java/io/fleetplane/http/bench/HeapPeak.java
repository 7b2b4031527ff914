package io.fleetplane.http.bench;

import com.sun.management.GarbageCollectionNotificationInfo;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.lang.management.MemoryUsage;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Collectors;
import javax.management.NotificationEmitter;
import javax.management.NotificationListener;
import javax.management.openmbean.CompositeData;

/**
 * The heap a measured run needed, two ways, from its start until {@link #close}:
 * <ul>
 *   <li>{@link #peakUsedBytes}: the most heap in use at any moment (garbage included), from a
 *       sampler every 10 ms plus the before-collection figure of every GC, so the moment just
 *       before a collection, which sampling would mostly miss, is counted;</li>
 *   <li>{@link #peakAfterGcBytes}: the most heap still in use right after a collection: what the
 *       run kept alive (an upper bound, since a young collection leaves old garbage in place).
 *       This is the figure that says whether memory is bounded; the first depends on how far the
 *       collector lets the heap fill before it collects.</li>
 * </ul>
 */
final class HeapPeak implements AutoCloseable {

  private static final long SAMPLE_MILLIS = 10;

  private final Set<String> heapPools = ManagementFactory.getMemoryPoolMXBeans().stream()
      .filter(p -> p.getType() == MemoryType.HEAP).map(MemoryPoolMXBean::getName).collect(Collectors.toSet());
  private final AtomicLong peakUsed = new AtomicLong();
  private final AtomicLong peakAfterGc = new AtomicLong();
  private final List<NotificationEmitter> emitters = new ArrayList<>();
  /** JVM uptime at the start, millis: the unit of GcInfo's start time. */
  private final long startedAtUptime = ManagementFactory.getRuntimeMXBean().getUptime();
  private final NotificationListener listener = (notification, handback) -> {
    if (GarbageCollectionNotificationInfo.GARBAGE_COLLECTION_NOTIFICATION.equals(notification.getType())) {
      var info = GarbageCollectionNotificationInfo.from((CompositeData) notification.getUserData()).getGcInfo();
      if (info.getStartTime() < startedAtUptime) {
        // Notifications arrive late: this is the caller's clean-up GC from before the watch.
        return;
      }
      peakUsed.accumulateAndGet(heap(info.getMemoryUsageBeforeGc()), Math::max);
      peakAfterGc.accumulateAndGet(heap(info.getMemoryUsageAfterGc()), Math::max);
    }
  };
  private final Thread sampler;
  private volatile boolean running = true;

  /** Starts watching now; the caller runs its GC first if it wants a clean start. */
  HeapPeak() {
    for (GarbageCollectorMXBean gc : ManagementFactory.getGarbageCollectorMXBeans()) {
      if (gc instanceof NotificationEmitter emitter) {
        emitter.addNotificationListener(listener, null, null);
        emitters.add(emitter);
      }
    }
    var memory = ManagementFactory.getMemoryMXBean();
    peakUsed.set(memory.getHeapMemoryUsage().getUsed());
    sampler = new Thread(() -> {
      while (running) {
        peakUsed.accumulateAndGet(memory.getHeapMemoryUsage().getUsed(), Math::max);
        try {
          Thread.sleep(SAMPLE_MILLIS);
        } catch (InterruptedException e) {
          return;
        }
      }
    }, "bench-heap-sampler");
    sampler.setDaemon(true);
    sampler.start();
  }

  long peakUsedBytes() {
    // One more sample now: what was allocated since the sampler last looked counts too.
    return peakUsed.accumulateAndGet(ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed(), Math::max);
  }

  /** 0 when no collection ran during the watch. */
  long peakAfterGcBytes() {
    return peakAfterGc.get();
  }

  private long heap(Map<String, MemoryUsage> byPool) {
    return byPool.entrySet().stream().filter(e -> heapPools.contains(e.getKey()))
        .mapToLong(e -> e.getValue().getUsed()).sum();
  }

  @Override
  public void close() {
    running = false;
    sampler.interrupt();
    for (NotificationEmitter emitter : emitters) {
      try {
        emitter.removeNotificationListener(listener);
      } catch (javax.management.ListenerNotFoundException e) {
        // Never added to this one: nothing to remove.
      }
    }
  }
}
