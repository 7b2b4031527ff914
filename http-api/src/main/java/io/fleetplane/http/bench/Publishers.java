package io.fleetplane.http.bench;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.eclipse.paho.mqttv5.client.IMqttToken;
import org.eclipse.paho.mqttv5.client.MqttActionListener;
import org.eclipse.paho.mqttv5.client.MqttAsyncClient;
import org.eclipse.paho.mqttv5.client.MqttConnectionOptions;
import org.eclipse.paho.mqttv5.client.persist.MemoryPersistence;
import org.eclipse.paho.mqttv5.common.MqttException;
import org.eclipse.paho.mqttv5.common.MqttMessage;

/**
 * A few Paho v5 clients publishing QoS 1 device updates with the send time inside the payload,
 * each with a bounded window of unacknowledged publishes (the broker's receive-maximum).
 */
final class Publishers implements AutoCloseable {

  private final List<MqttAsyncClient> clients = new ArrayList<>();
  private final List<Semaphore> windows = new ArrayList<>();
  private final String padding;

  Publishers(String serverUri, int count, int window, int payloadBytes) throws MqttException {
    for (int i = 0; i < count; i++) {
      MqttAsyncClient client = new MqttAsyncClient(serverUri, "bench-pub-" + i + "-" + System.nanoTime(),
          new MemoryPersistence());
      MqttConnectionOptions options = new MqttConnectionOptions();
      options.setCleanStart(true);
      client.connect(options).waitForCompletion(10_000);
      clients.add(client);
      windows.add(new Semaphore(window));
    }
    // The JSON around the padding is ~120 bytes.
    padding = "x".repeat(Math.max(0, payloadBytes - 120));
  }

  /** Publishes message {@code seq} of {@code session} on the client the session maps to. */
  void publish(String topic, int sessionIndex, long seq) throws MqttException, InterruptedException {
    publishReturningSent(topic, sessionIndex, seq);
  }

  /** {@link #publish}, returning the send time written into the payload. */
  long publishReturningSent(String topic, int sessionIndex, long seq) throws MqttException, InterruptedException {
    int c = Math.floorMod(sessionIndex, clients.size());
    Semaphore window = windows.get(c);
    window.acquire();
    long sent = System.nanoTime();
    String json = "{\"ts\":" + System.currentTimeMillis() + ",\"seq\":" + seq
        + ",\"attributes\":{\"sent\":\"" + sent + "\",\"pad\":\"" + padding + "\"}}";
    MqttMessage message = new MqttMessage(json.getBytes(StandardCharsets.UTF_8));
    message.setQos(1);
    clients.get(c).publish(topic, message, null, new MqttActionListener() {
      @Override
      public void onSuccess(IMqttToken token) {
        window.release();
      }

      @Override
      public void onFailure(IMqttToken token, Throwable error) {
        window.release();
      }
    });
    return sent;
  }

  /** Sleeps until the given deadline without burning a core. */
  static void paceUntil(long deadlineNanos) {
    long wait;
    while ((wait = deadlineNanos - System.nanoTime()) > 0) {
      LockSupport.parkNanos(Math.min(wait, TimeUnit.MILLISECONDS.toNanos(1)));
    }
  }

  /** Reads the sequence number a publisher put into a payload (negative for warm-up messages). */
  static long sequence(byte[] payload) {
    String s = new String(payload, 0, Math.min(payload.length, 120), StandardCharsets.UTF_8);
    int at = s.indexOf("\"seq\":");
    if (at < 0) {
      return Long.MIN_VALUE;
    }
    int start = at + 6;
    int end = start;
    while (end < s.length() && (Character.isDigit(s.charAt(end)) || s.charAt(end) == '-')) {
      end++;
    }
    return Long.parseLong(s.substring(start, end));
  }

  /** Reads the send time a publisher put into a payload; -1 if absent. */
  static long sentNanos(byte[] payload) {
    String s = new String(payload, 0, Math.min(payload.length, 200), StandardCharsets.UTF_8);
    int at = s.indexOf("\"sent\":\"");
    if (at < 0) {
      return -1;
    }
    int start = at + 8;
    int end = s.indexOf('"', start);
    return end < 0 ? -1 : Long.parseLong(s.substring(start, end));
  }

  @Override
  public void close() {
    for (MqttAsyncClient client : clients) {
      try {
        client.disconnect().waitForCompletion(5_000);
        client.close();
      } catch (MqttException ignored) {
        // benchmark teardown
      }
    }
  }
}
