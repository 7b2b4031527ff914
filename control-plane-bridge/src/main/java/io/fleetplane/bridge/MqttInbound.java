package io.fleetplane.bridge;

import akka.Done;
import io.fleetplane.bridge.domain.Backoff;
import io.fleetplane.bridge.domain.DeviceToCloudTopics;
import io.fleetplane.bridge.domain.TraceParent;
import io.fleetplane.config.LogIds;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.eclipse.paho.mqttv5.client.IMqttToken;
import org.eclipse.paho.mqttv5.client.MqttActionListener;
import org.eclipse.paho.mqttv5.client.MqttAsyncClient;
import org.eclipse.paho.mqttv5.client.MqttCallback;
import org.eclipse.paho.mqttv5.client.MqttConnectionOptions;
import org.eclipse.paho.mqttv5.client.MqttDisconnectResponse;
import org.eclipse.paho.mqttv5.client.persist.MemoryPersistence;
import org.eclipse.paho.mqttv5.common.MqttException;
import org.eclipse.paho.mqttv5.common.MqttMessage;
import org.eclipse.paho.mqttv5.common.MqttSubscription;
import org.eclipse.paho.mqttv5.common.packet.MqttProperties;
import org.eclipse.paho.mqttv5.common.packet.UserProperty;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.slf4j.MDC;

/**
 * The MQTT side of the device-to-cloud path: one persistent MQTT 5 session (clean start off,
 * session expiry, manual acknowledgements, receive-maximum = the bridge's in-flight limit)
 * subscribed to exactly the three device-to-cloud channels.
 *
 * <p><b>One Paho client per connection.</b> Every (re)connection uses a fresh
 * {@link MqttAsyncClient} (same client id, so the same broker session). A message remembers the
 * {@link Connection} it arrived on, and is acknowledged only on that connection while it is
 * still the current one. Why: packet ids are reused by the broker once acknowledged; an
 * acknowledgement from an old connection sent on a new one could acknowledge a different,
 * not-yet-stored message. After a reconnect the broker resends every unacknowledged message
 * anyway, so dropping old acknowledgements costs at most a duplicate, never a loss.
 *
 * <p><b>Supervision.</b> Connection failures and losses are retried forever with exponential
 * backoff ({@code fleetplane.bridge.restart}); the backoff resets once a connection has stayed
 * up for {@code max-backoff}. Paho's own automatic reconnect is off so that this class alone
 * decides. All connection lifecycle work runs on one thread, never on Paho's callback thread
 * (closing a client from its own callback deadlocks).
 */
final class MqttInbound {

  private static final Logger log = LoggerFactory.getLogger(MqttInbound.class);

  /** MQTT 5 DISCONNECT reason code: another connection with the same client id took over. */
  private static final int SESSION_TAKEN_OVER = 0x8E;

  /**
   * A filter this client never subscribes to: unsubscribing it leaves the session unchanged, and
   * the broker's UNSUBACK proves it has handled every packet we sent before (see
   * {@link #confirmAcknowledgements}).
   */
  static final String ACK_BARRIER_FILTER = "fleetplane/bridge/ack-barrier";

  /** How long a polite disconnect waits for that proof before it disconnects anyway. */
  private static final long ACK_BARRIER_TIMEOUT_MILLIS = 5_000;

  /** The per-message hand-off to the Kafka side; false means "not taken, do not acknowledge". */
  interface Receiver {
    boolean offer(InboundMessage message);
  }

  /** One network connection of the session, with the Paho client that owns it. */
  static final class Connection {
    final long epoch;
    final MqttAsyncClient client;
    volatile boolean lost;
    volatile long upSinceNanos;

    Connection(long epoch, MqttAsyncClient client) {
      this.epoch = epoch;
      this.client = client;
    }
  }

  /** What health reports about the MQTT side. */
  record Status(boolean connected, String detail, long reconnects) {}

  private final BridgeSettings settings;
  private final BridgeSettings.Mqtt mqtt;
  private final Receiver receiver;
  private final Runnable notTaken;
  private final Backoff backoff;
  private final ScheduledExecutorService lifecycle;
  private final CompletableFuture<Done> firstConnection = new CompletableFuture<>();
  private final AtomicBoolean redeliveryScheduled = new AtomicBoolean();
  /** For a caller that wants the broker reachable at start-up (the node): fail, do not retry. */
  private final boolean failOnFirstAttempt;

  private volatile Connection current;
  private volatile boolean connected;
  private volatile boolean receiving = true;
  private volatile boolean closed;
  private volatile String detail = "connecting";
  private volatile long reconnects;
  // Lifecycle thread only:
  private long epochs;
  private int failedAttempts;
  private boolean everConnected;

  MqttInbound(BridgeSettings settings, Receiver receiver, Runnable notTaken, boolean failOnFirstAttempt) {
    this.settings = settings;
    this.failOnFirstAttempt = failOnFirstAttempt;
    this.mqtt = settings.mqtt();
    this.receiver = receiver;
    this.notTaken = notTaken;
    this.backoff = settings.restart();
    this.lifecycle = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "fleetplane-bridge-mqtt-" + settings.instanceId());
      t.setDaemon(true);
      return t;
    });
  }

  /** Starts connecting (retrying forever); the stage completes on the first subscription. */
  CompletionStage<Done> start() {
    lifecycle.execute(this::connect);
    return firstConnection;
  }

  Status status() {
    return new Status(connected, connected ? "connected to " + mqtt.serverUri() : detail, reconnects);
  }

  boolean isConnected() {
    return connected;
  }

  /** True while the message's connection is the live one, i.e. its acknowledgement would count. */
  boolean isCurrent(InboundMessage message) {
    Connection c = message.connection();
    return c != null && c == current && !c.lost;
  }

  /**
   * Acknowledges a message to the broker (PUBACK) now that Kafka has it. Skipped when its
   * connection is gone: the broker resends it on the new connection.
   */
  void acknowledge(InboundMessage message) {
    if (message.qos() == 0) {
      return;
    }
    Connection c = message.connection();
    if (c == null || c != current || c.lost) {
      BridgeMetrics.count(BridgeMetrics.STALE_MESSAGES, BridgeMetrics.INBOUND);
      return;
    }
    try {
      c.client.messageArrivedComplete(message.messageId(), message.qos());
    } catch (MqttException e) {
      BridgeMetrics.count(BridgeMetrics.STALE_MESSAGES, BridgeMetrics.INBOUND);
      log.debug("Bridge {}: acknowledgement of MQTT message {} not sent ({}); the broker resends it",
          settings.instanceId(), message.messageId(), e.toString());
    }
  }

  /**
   * Reconnects (once, however many ask) so that the broker resends every unacknowledged message.
   * MQTT has no other way to ask for a redelivery.
   */
  void requestRedelivery() {
    if (closed || !redeliveryScheduled.compareAndSet(false, true)) {
      return;
    }
    lifecycle.schedule(() -> {
      redeliveryScheduled.set(false);
      Connection c = current;
      if (closed || !receiving || c == null || c.lost) {
        return; // a reconnect is already on its way, and brings the redelivery with it
      }
      BridgeMetrics.count(BridgeMetrics.REDELIVERY_REQUESTS, BridgeMetrics.INBOUND);
      log.info("Bridge {}: reconnecting to {} so that the broker resends unacknowledged messages",
          settings.instanceId(), mqtt.serverUri());
      retire(c, "reconnecting for redelivery", true);
      connect();
    }, backoff.min().toMillis(), TimeUnit.MILLISECONDS);
  }

  /** Graceful stop, step 1: messages arriving from now on stay unacknowledged with the broker. */
  void stopReceiving() {
    receiving = false;
  }

  /**
   * Graceful stop, last step: a normal DISCONNECT (the session and anything unacknowledged stay
   * with the broker for the next start), after the PUBACKs already queued went out.
   */
  CompletionStage<Done> disconnect() {
    receiving = false;
    closed = true;
    CompletableFuture<Done> done = new CompletableFuture<>();
    lifecycle.execute(() -> {
      Connection c = current;
      if (c != null && !c.lost) {
        retire(c, "bridge stopping", true);
      }
      connected = false;
      detail = "stopped";
      firstConnection.completeExceptionally(new IllegalStateException("bridge stopped before it connected"));
      done.complete(Done.getInstance());
    });
    return done.whenComplete((d, e) -> lifecycle.shutdown());
  }

  // ---------------------------------------------------------------------------------------------
  // Lifecycle thread

  private void connect() {
    if (closed) {
      return;
    }
    Connection c;
    try {
      c = new Connection(++epochs, new MqttAsyncClient(mqtt.serverUri(), mqtt.clientId(), new MemoryPersistence()));
    } catch (MqttException | IllegalArgumentException e) {
      failed(null, "cannot create an MQTT client for " + mqtt.serverUri() + ": " + e);
      return;
    }
    c.client.setManualAcks(true);
    c.client.setCallback(new Callback(c));
    current = c;
    detail = "connecting to " + mqtt.serverUri();
    try {
      c.client.connect(options(), null, new MqttActionListener() {
        @Override
        public void onSuccess(IMqttToken token) {
          boolean sessionPresent = token.getSessionPresent();
          lifecycle.execute(() -> subscribe(c, sessionPresent));
        }

        @Override
        public void onFailure(IMqttToken token, Throwable error) {
          lifecycle.execute(() -> failed(c, "connect to " + mqtt.serverUri() + " as '" + mqtt.clientId()
              + "' failed: " + error + ". Check fleetplane.bridge.mqtt.server-uri (FLEETPLANE_MQTT_URI)"
              + " and the bridge's credentials"));
        }
      });
    } catch (MqttException e) {
      failed(c, "connect to " + mqtt.serverUri() + " failed: " + e);
    }
  }

  private MqttConnectionOptions options() {
    MqttConnectionOptions o = new MqttConnectionOptions();
    // A persistent session: what the bridge has not acknowledged survives its restart.
    o.setCleanStart(false);
    o.setSessionExpiryInterval(mqtt.sessionExpiry().toSeconds());
    // The broker never has more unacknowledged messages in flight to us than Kafka may hold.
    o.setReceiveMaximum(settings.maxInFlight());
    if (mqtt.maximumPacketSize() > 0) {
      o.setMaximumPacketSize((long) mqtt.maximumPacketSize());
    }
    o.setAutomaticReconnect(false);
    o.setKeepAliveInterval((int) Math.max(1, mqtt.keepAlive().toSeconds()));
    o.setConnectionTimeout((int) Math.max(1, mqtt.connectTimeout().toSeconds()));
    mqtt.username().ifPresent(o::setUserName);
    mqtt.password().ifPresent(p -> o.setPassword(p.getBytes(StandardCharsets.UTF_8)));
    return o;
  }

  private void subscribe(Connection c, boolean sessionPresent) {
    if (closed || c != current || c.lost) {
      return;
    }
    List<String> filters = mqtt.subscriptions();
    MqttSubscription[] subscriptions = filters.stream()
        .map(f -> new MqttSubscription(f, 1))
        .toArray(MqttSubscription[]::new);
    try {
      c.client.subscribe(subscriptions, null, new MqttActionListener() {
        @Override
        public void onSuccess(IMqttToken token) {
          int[] codes = token.getReasonCodes();
          lifecycle.execute(() -> subscribed(c, filters, codes, sessionPresent));
        }

        @Override
        public void onFailure(IMqttToken token, Throwable error) {
          lifecycle.execute(() -> failed(c, "subscribe to " + filters + " failed: " + error));
        }
      }, new MqttProperties());
    } catch (MqttException e) {
      failed(c, "subscribe to " + filters + " failed: " + e);
    }
  }

  private void subscribed(Connection c, List<String> filters, int[] codes, boolean sessionPresent) {
    if (closed || c != current || c.lost) {
      return;
    }
    for (int i = 0; i < codes.length; i++) {
      if (codes[i] >= 0x80) {
        failed(c, "the broker refused the subscription to '" + filters.get(Math.min(i, filters.size() - 1))
            + "' (reason code 0x" + Integer.toHexString(codes[i]) + "): allow the bridge's user to "
            + "subscribe to it (broker ACL), or fix fleetplane.bridge.mqtt.shared-subscription-group");
        return;
      }
    }
    if (sessionPresent) {
      unsubscribeLegacyFilter(c);
    } else if (everConnected) {
      log.warn("Bridge {}: the broker had no session for client id '{}' (it expired or the broker lost "
          + "it): messages published while the bridge was away were not kept for it. Raise "
          + "fleetplane.bridge.mqtt.session-expiry or the broker's persistence if this was not a "
          + "planned reset.", settings.instanceId(), mqtt.clientId());
    }
    c.upSinceNanos = System.nanoTime();
    connected = true;
    if (everConnected) {
      reconnects++;
      BridgeMetrics.count(BridgeMetrics.MQTT_RECONNECTS, BridgeMetrics.INBOUND);
    }
    everConnected = true;
    log.info("Bridge {} connected to {} as '{}' ({} session), subscribed at QoS 1 to {}",
        settings.instanceId(), mqtt.serverUri(), mqtt.clientId(), sessionPresent ? "resumed" : "new",
        filters);
    firstConnection.complete(Done.getInstance());
  }

  /**
   * A session from the first bridge version may still hold its channel wildcard, which would
   * deliver the command topics to this path: remove it. Unsubscribing a filter that is not there
   * is harmless.
   */
  private void unsubscribeLegacyFilter(Connection c) {
    try {
      c.client.unsubscribe(new String[] {DeviceToCloudTopics.shared(DeviceToCloudTopics.LEGACY_FILTER,
          mqtt.sharedSubscriptionGroup())}, null, null, new MqttProperties());
    } catch (MqttException e) {
      log.debug("Bridge {}: unsubscribing the legacy filter failed: {}", settings.instanceId(), e.toString());
    }
  }

  /** A connection attempt failed or a live connection was lost: retire it and retry with backoff. */
  private void failed(Connection c, String why) {
    if (c != null && c.lost) {
      return;
    }
    boolean wasCurrent = c == null || c == current;
    long upFor = c == null || c.upSinceNanos == 0 ? 0 : System.nanoTime() - c.upSinceNanos;
    if (c != null) {
      retire(c, why, false);
    }
    if (closed || !wasCurrent) {
      return;
    }
    BridgeMetrics.count(BridgeMetrics.MQTT_CONNECTION_FAILURES, BridgeMetrics.INBOUND);
    if (failOnFirstAttempt && !everConnected) {
      detail = why;
      firstConnection.completeExceptionally(new IllegalStateException("Bridge " + settings.instanceId()
          + ": " + why));
      return;
    }
    if (upFor >= backoff.max().toNanos()) {
      failedAttempts = 0; // it was a good connection: start over with short delays
    }
    Duration delay = backoff.delay(failedAttempts++, ThreadLocalRandom.current());
    detail = why;
    log.warn("Bridge {}: {}; reconnecting in {} ms (attempt {})", settings.instanceId(), why,
        delay.toMillis(), failedAttempts);
    lifecycle.schedule(this::connect, delay.toMillis(), TimeUnit.MILLISECONDS);
  }

  /** Marks a connection dead and releases its client; {@code polite} sends DISCONNECT first. */
  private void retire(Connection c, String why, boolean polite) {
    c.lost = true;
    if (c == current) {
      connected = false;
      detail = why;
    }
    try {
      if (polite && c.client.isConnected()) {
        confirmAcknowledgements(c);
        // Quiesce lets PUBACKs already queued go out before the DISCONNECT.
        c.client.disconnect(2_000).waitForCompletion(5_000);
      } else {
        c.client.disconnectForcibly(0, 1_000, false);
      }
    } catch (MqttException e) {
      log.debug("Bridge {}: disconnect: {}", settings.instanceId(), e.toString());
    }
    try {
      c.client.close(true);
    } catch (MqttException e) {
      log.debug("Bridge {}: close: {}", settings.instanceId(), e.toString());
    }
  }

  /**
   * Waits until the broker has handled every PUBACK already sent on this connection, so that a
   * graceful stop leaves with the broker nothing Kafka already has. Why: Paho writing a PUBACK
   * is not the broker reading it, and MQTT acknowledges no DISCONNECT. The broker keeps
   * publishing to us until it reads the DISCONNECT, so the socket is closed with unread input,
   * which resets the connection; a broker that is behind then drops whatever it had not read
   * yet, our last PUBACKs included (seen in BridgeProcessKillIT: Mosquitto logged "Broken pipe",
   * no DISCONNECT, and resent the drained messages to the next bridge). An UNSUBSCRIBE queued
   * behind the PUBACKs is the barrier: Paho sends acknowledgements and requests in one FIFO, and
   * the broker handles a connection's packets in order, so its UNSUBACK comes after them.
   */
  private void confirmAcknowledgements(Connection c) {
    IMqttToken barrier = null;
    try {
      barrier = c.client.unsubscribe(new String[] {ACK_BARRIER_FILTER}, null, null, new MqttProperties());
      barrier.waitForCompletion(ACK_BARRIER_TIMEOUT_MILLIS);
    } catch (MqttException e) {
      // Timed out, or the connection is gone; an UNSUBACK with an error reason code would still
      // have proved the order, which is why only the response is checked below.
      log.debug("Bridge {}: acknowledgement barrier: {}", settings.instanceId(), e.toString());
    }
    if (barrier == null || barrier.getResponse() == null) {
      BridgeMetrics.count(BridgeMetrics.UNCONFIRMED_DISCONNECTS, BridgeMetrics.INBOUND);
      log.warn("Bridge {}: the broker did not confirm the last acknowledgements within {} ms before the "
          + "disconnect; it may resend those messages to the next connection (duplicates, never a loss)",
          settings.instanceId(), ACK_BARRIER_TIMEOUT_MILLIS);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Paho callback thread: never block, never throw (Paho drops the connection on an exception).

  private final class Callback implements MqttCallback {
    private final Connection connection;

    Callback(Connection connection) {
      this.connection = connection;
    }

    @Override
    public void messageArrived(String topic, MqttMessage message) {
      Optional<String> session = DeviceToCloudTopics.sessionLevel(topic);
      session.ifPresent(s -> MDC.put(LogIds.DEVICE_SESSION_ID, s));
      try {
        if (!receiving || connection.lost || connection != current) {
          return; // left unacknowledged: the broker resends it to the next connection
        }
        byte[] payload = message.getPayload();
        BridgeMetrics.count(BridgeMetrics.MESSAGES_IN, BridgeMetrics.INBOUND);
        BridgeMetrics.count(BridgeMetrics.BYTES_IN, BridgeMetrics.INBOUND, payload.length);
        InboundMessage in = new InboundMessage(topic, payload, message.getQos(), message.getId(),
            System.currentTimeMillis(), traceparent(message.getProperties()), connection);
        if (!receiver.offer(in)) {
          log.debug("Bridge {}: message {} on '{}' not taken (Kafka stream restarting, stopping, or "
              + "stalled longer than half the keep-alive)",
              settings.instanceId(), message.getId(), topic);
          notTaken.run();
        }
      } catch (RuntimeException e) {
        log.error("Bridge {}: handling MQTT message on '{}' failed; it stays unacknowledged and is "
            + "redelivered", settings.instanceId(), InboundRecords.shortened(topic), e);
        notTaken.run();
      } finally {
        MDC.remove(LogIds.DEVICE_SESSION_ID);
      }
    }

    @Override
    public void disconnected(MqttDisconnectResponse response) {
      String why = response.getException() != null
          ? "lost the connection to " + mqtt.serverUri() + ": " + response.getException()
          : response.getReturnCode() == SESSION_TAKEN_OVER
              ? "another client connected with client id '" + mqtt.clientId() + "' and took the "
                  + "session over: give every bridge instance its own fleetplane.bridge.instance-id "
                  + "(or mqtt.client-id)"
              : "the broker closed the connection (reason code 0x" + Integer.toHexString(response.getReturnCode())
                  + (response.getReasonString() == null ? "" : ", " + response.getReasonString()) + ")";
      lifecycle.execute(() -> failed(connection, why));
    }

    @Override
    public void mqttErrorOccurred(MqttException exception) {
      log.warn("Bridge {}: MQTT error: {}", settings.instanceId(), exception.toString());
    }

    @Override
    public void deliveryComplete(IMqttToken token) {}

    @Override
    public void connectComplete(boolean reconnect, String serverUri) {}

    @Override
    public void authPacketArrived(int reasonCode, MqttProperties properties) {}
  }

  private static Optional<String> traceparent(MqttProperties properties) {
    if (properties == null || properties.getUserProperties() == null) {
      return Optional.empty();
    }
    for (UserProperty p : properties.getUserProperties()) {
      if (TraceParent.NAME.equals(p.getKey())) {
        return Optional.ofNullable(p.getValue());
      }
    }
    return Optional.empty();
  }
}
