package io.fleetplane.bridge.support;

import io.fleetplane.config.ids.DeviceSessionId;
import io.fleetplane.config.ids.DeviceTopic;
import io.fleetplane.config.ids.RaeSerial;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * Simulated devices publishing a continuous stream until told to stop, for tests that break
 * something in the middle of the stream. Each session's messages carry seq 0, 1, 2... and are
 * published by one connection, synchronously, so publish order is seq order.
 */
public final class DeviceStream {

  private final List<DeviceTopic> sessions = new ArrayList<>();
  private final AtomicInteger[] sent;
  private final AtomicInteger published = new AtomicInteger();
  private final AtomicBoolean stop = new AtomicBoolean();
  private CompletableFuture<Void> running;

  public DeviceStream(int sessions) {
    for (int i = 0; i < sessions; i++) {
      this.sessions.add(new DeviceTopic(new RaeSerial("RAE-" + (i % 5)), DeviceSessionId.random(),
          DeviceTopic.Channel.UPDATE));
    }
    sent = new AtomicInteger[sessions];
    for (int i = 0; i < sessions; i++) {
      sent[i] = new AtomicInteger();
    }
  }

  /** Starts {@code connections} publishers, each pausing {@code pauseMicros} after every message. */
  public DeviceStream start(String serverUri, int connections, int payloadBytes, long pauseMicros) {
    List<CompletableFuture<Void>> all = new ArrayList<>();
    for (int t = 0; t < connections; t++) {
      int first = t;
      all.add(CompletableFuture.runAsync(() -> {
        try (DevicePublisher publisher = DevicePublisher.connect(serverUri)) {
          while (!stop.get()) {
            for (int i = first; i < sessions.size() && !stop.get(); i += connections) {
              int seq = sent[i].get();
              publisher.publish(sessions.get(i).topic(), BridgeFixture.payload(seq, payloadBytes));
              sent[i].incrementAndGet();
              published.incrementAndGet();
              if (pauseMicros > 0) {
                LockSupport.parkNanos(pauseMicros * 1_000);
              }
            }
          }
        }
      }, runnable -> {
        Thread thread = new Thread(runnable, "it-device-stream");
        thread.setDaemon(true);
        thread.start();
      }));
    }
    running = CompletableFuture.allOf(all.toArray(CompletableFuture[]::new));
    return this;
  }

  /** Stops publishing and waits for the publishers; afterwards {@link #expected()} is final. */
  public void stop() throws Exception {
    stop.set(true);
    running.get(60, java.util.concurrent.TimeUnit.SECONDS);
  }

  public int published() {
    return published.get();
  }

  /** Session key -> messages published so far, for {@link Deliveries#analyze}. */
  public Map<String, Integer> expected() {
    Map<String, Integer> expected = new LinkedHashMap<>();
    for (int i = 0; i < sessions.size(); i++) {
      expected.put(sessions.get(i).sessionKey(), sent[i].get());
    }
    return expected;
  }
}
