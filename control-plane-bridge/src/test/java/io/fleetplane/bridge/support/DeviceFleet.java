package io.fleetplane.bridge.support;

import io.fleetplane.config.ids.DeviceSessionId;
import io.fleetplane.config.ids.DeviceTopic;
import io.fleetplane.config.ids.RaeSerial;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Simulated devices: {@code sessions} device sessions publishing {@code perSession} messages each
 * (seq 0..n-1) on their {@code update} topic, spread over a few publisher connections. Every
 * session is published by one connection, synchronously, so its publish order is its seq order.
 */
public final class DeviceFleet {

  private final List<DeviceTopic> sessions = new ArrayList<>();
  private final int perSession;
  private final AtomicInteger published = new AtomicInteger();

  public DeviceFleet(int sessions, int perSession) {
    for (int i = 0; i < sessions; i++) {
      this.sessions.add(new DeviceTopic(new RaeSerial("RAE-" + (i % 7)), DeviceSessionId.random(),
          DeviceTopic.Channel.UPDATE));
    }
    this.perSession = perSession;
  }

  public int total() {
    return sessions.size() * perSession;
  }

  public int published() {
    return published.get();
  }

  /** Session key -> messages per session, for {@link Deliveries#analyze}. */
  public Map<String, Integer> expected() {
    Map<String, Integer> expected = new LinkedHashMap<>();
    sessions.forEach(s -> expected.put(s.sessionKey(), perSession));
    return expected;
  }

  public List<DeviceTopic> sessions() {
    return sessions;
  }

  /**
   * Publishes everything from {@code connections} threads, round-robin over each thread's
   * sessions, pausing {@code pauseMicrosPerMessage} per message per thread to pace a stream.
   */
  public CompletableFuture<Void> publish(String serverUri, int connections, int payloadBytes,
      long pauseMicrosPerMessage) {
    List<CompletableFuture<Void>> all = new ArrayList<>();
    for (int t = 0; t < connections; t++) {
      List<DeviceTopic> mine = new ArrayList<>();
      for (int i = t; i < sessions.size(); i += connections) {
        mine.add(sessions.get(i));
      }
      all.add(CompletableFuture.runAsync(() -> {
        try (DevicePublisher publisher = DevicePublisher.connect(serverUri)) {
          for (int seq = 0; seq < perSession; seq++) {
            for (DeviceTopic session : mine) {
              publisher.publish(session.topic(), BridgeFixture.payload(seq, payloadBytes));
              published.incrementAndGet();
              if (pauseMicrosPerMessage > 0) {
                java.util.concurrent.locks.LockSupport.parkNanos(pauseMicrosPerMessage * 1_000);
              }
            }
          }
        }
      }, runnable -> {
        Thread thread = new Thread(runnable, "it-device-publisher");
        thread.setDaemon(true);
        thread.start();
      }));
    }
    return CompletableFuture.allOf(all.toArray(CompletableFuture[]::new));
  }
}
