package io.fleetplane.bridge.command;

import akka.Done;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BiConsumer;
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
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The command bridge's own MQTT 5 connection (Paho v5, its own client id): publishes commands at
 * QoS 1 and reports the broker's PUBACK, and delivers every reply to a handler with manual
 * acknowledgement, so a reply is acknowledged to the broker only once its Kafka record exists.
 *
 * <p>Reconnects by itself (Paho automatic reconnect) with a persistent session, and subscribes
 * again on every connect: replies the broker queued meanwhile arrive after the reconnect.
 */
final class CommandMqttLink {

  private static final Logger log = LoggerFactory.getLogger(CommandMqttLink.class);
  private static final int KEEP_ALIVE_SECONDS = 30;

  /** How the broker answered a command publish. */
  sealed interface PublishOutcome {}

  /** PUBACK with a success code (0x00, or 0x10 "no matching subscribers"). */
  record Accepted(int reasonCode) implements PublishOutcome {}

  /** PUBACK with a failure code (>= 0x80), e.g. 0x87 "not authorized". */
  record Refused(int reasonCode) implements PublishOutcome {}

  private final CommandBridgeSettings settings;
  private final BiConsumer<String, MqttMessage> replyHandler;
  private final AtomicBoolean connected = new AtomicBoolean();
  private final AtomicBoolean closing = new AtomicBoolean();
  private final CompletableFuture<Done> firstSubscription = new CompletableFuture<>();
  /** Completed while connected and subscribed; replaced by a fresh one on every disconnect. */
  private volatile CompletableFuture<Done> ready = new CompletableFuture<>();
  private MqttAsyncClient client;

  CommandMqttLink(CommandBridgeSettings settings, BiConsumer<String, MqttMessage> replyHandler) {
    this.settings = settings;
    this.replyHandler = replyHandler;
  }

  /** Connects and subscribes to the reply filter; completes once the first SUBACK arrived. */
  CompletionStage<Done> connect() {
    MqttConnectionOptions options = new MqttConnectionOptions();
    options.setCleanStart(false);
    options.setSessionExpiryInterval(settings.sessionExpiry().toSeconds());
    options.setReceiveMaximum(settings.receiveMaximum());
    options.setAutomaticReconnect(true);
    options.setAutomaticReconnectDelay(
        (int) Math.max(1, settings.minBackoff().toSeconds()),
        (int) Math.max(1, settings.maxBackoff().toSeconds()));
    options.setKeepAliveInterval(KEEP_ALIVE_SECONDS);
    settings.mqttUsername().ifPresent(options::setUserName);
    settings.mqttPassword().ifPresent(p -> options.setPassword(p.getBytes(StandardCharsets.UTF_8)));
    try {
      client = new MqttAsyncClient(settings.mqttServerUri(), settings.mqttClientId(),
          new MemoryPersistence());
      client.setManualAcks(true);
      client.setCallback(new Callback());
      client.connect(options, null, new MqttActionListener() {
        @Override
        public void onSuccess(IMqttToken token) {
          // connectComplete subscribes and completes firstSubscription.
        }

        @Override
        public void onFailure(IMqttToken token, Throwable error) {
          firstSubscription.completeExceptionally(new IllegalStateException(
              "Command bridge could not connect to MQTT broker " + settings.mqttServerUri()
                  + " as '" + settings.mqttClientId() + "': " + error + ". Check "
                  + "fleetplane.bridge.mqtt.server-uri (FLEETPLANE_MQTT_URI) and the bridge's "
                  + "credentials (FLEETPLANE_MQTT_USERNAME/PASSWORD).", error));
        }
      });
    } catch (MqttException e) {
      firstSubscription.completeExceptionally(e);
    }
    return firstSubscription;
  }

  /**
   * Publishes at QoS 1. Completes with the broker's verdict once the PUBACK arrived; fails when
   * the client could not send (not connected, too many in flight), which the caller treats as
   * "try again later".
   */
  CompletionStage<PublishOutcome> publish(String topic, byte[] payload, MqttProperties properties) {
    CompletableFuture<PublishOutcome> outcome = new CompletableFuture<>();
    MqttMessage message = new MqttMessage(payload);
    message.setQos(1);
    message.setRetained(false);
    message.setProperties(properties);
    try {
      client.publish(topic, message, null, new MqttActionListener() {
        @Override
        public void onSuccess(IMqttToken token) {
          int[] codes = token.getReasonCodes();
          int code = codes == null || codes.length == 0 ? 0 : codes[0];
          outcome.complete(code >= 0x80 ? new Refused(code) : new Accepted(code));
        }

        @Override
        public void onFailure(IMqttToken token, Throwable error) {
          // A broker reason code (< 0x100) is the broker's verdict; Paho's own codes are larger.
          if (error instanceof MqttException e && e.getReasonCode() >= 0x80
              && e.getReasonCode() <= 0xFF) {
            outcome.complete(new Refused(e.getReasonCode()));
          } else {
            outcome.completeExceptionally(error);
          }
        }
      });
    } catch (MqttException e) {
      outcome.completeExceptionally(e);
    }
    return outcome;
  }

  /** Acknowledges a QoS 1 reply to the broker (QoS 0 needs none). */
  void acknowledge(int messageId, int qos) {
    if (qos == 0) {
      return;
    }
    try {
      client.messageArrivedComplete(messageId, qos);
    } catch (MqttException e) {
      // The broker redelivers it after a reconnect; it is then dropped as already answered.
      log.warn("Command bridge {}: could not acknowledge reply {} to the broker: {}",
          settings.instanceId(), messageId, e.toString());
    }
  }

  boolean isConnected() {
    return connected.get();
  }

  /**
   * Completes once the link is connected and subscribed to replies (at once when it is): the
   * bridge publishes only then, so that a short outage delays commands instead of failing them,
   * and no reply can come before the bridge listens for it.
   */
  CompletionStage<Done> whenReady() {
    return ready;
  }

  /** Unsubscribes and disconnects; the broker keeps the session for {@code session-expiry}. */
  void close() {
    closing.set(true);
    if (client == null) {
      return;
    }
    try {
      if (client.isConnected()) {
        client.unsubscribe(settings.effectiveReplySubscription()).waitForCompletion(5_000);
        client.disconnect(2_000).waitForCompletion(5_000);
      }
    } catch (MqttException e) {
      log.debug("Command bridge {}: disconnect: {}", settings.instanceId(), e.toString());
    }
    try {
      client.close(true);
    } catch (MqttException e) {
      log.debug("Command bridge {}: close: {}", settings.instanceId(), e.toString());
    }
    connected.set(false);
  }

  private void subscribe() {
    String filter = settings.effectiveReplySubscription();
    try {
      client.subscribe(new MqttSubscription[] {new MqttSubscription(filter, 1)}, null,
          new MqttActionListener() {
            @Override
            public void onSuccess(IMqttToken token) {
              int[] codes = token.getReasonCodes();
              if (codes != null && codes.length > 0 && codes[0] >= 0x80) {
                refused(filter, codes[0]);
                return;
              }
              log.info("Command bridge {} subscribed to '{}' at QoS 1 on {}",
                  settings.instanceId(), filter, settings.mqttServerUri());
              ready.complete(Done.getInstance());
              firstSubscription.complete(Done.getInstance());
            }

            @Override
            public void onFailure(IMqttToken token, Throwable error) {
              if (error instanceof MqttException e && e.getReasonCode() >= 0x80
                  && e.getReasonCode() <= 0xFF) {
                refused(filter, e.getReasonCode());
              } else {
                log.error("Command bridge {}: subscribing to '{}' failed: {}; it is retried on the"
                    + " next reconnect", settings.instanceId(), filter, error.toString());
                firstSubscription.completeExceptionally(error);
              }
            }
          }, new MqttProperties());
    } catch (MqttException e) {
      log.error("Command bridge {}: subscribing to '{}' failed: {}", settings.instanceId(), filter,
          e.toString());
      firstSubscription.completeExceptionally(e);
    }
  }

  private void refused(String filter, int code) {
    String message = "The MQTT broker refused the command bridge's subscription to '" + filter
        + "' (reason code 0x" + Integer.toHexString(code) + "): give the bridge user read access"
        + " to fleet/rae/+/device/+/command-reply (config/mosquitto/acl), and check that the broker"
        + " allows shared subscriptions if fleetplane.bridge.commands.mqtt."
        + "shared-subscription-group is set.";
    log.error("Command bridge {}: {}", settings.instanceId(), message);
    firstSubscription.completeExceptionally(new IllegalStateException(message));
  }

  private final class Callback implements MqttCallback {
    @Override
    public void connectComplete(boolean reconnect, String serverUri) {
      connected.set(true);
      log.info("Command bridge {} connected to {} as '{}'{}", settings.instanceId(), serverUri,
          settings.mqttClientId(), reconnect ? " (reconnect)" : "");
      if (!closing.get()) {
        subscribe();
      }
    }

    @Override
    public void disconnected(MqttDisconnectResponse response) {
      connected.set(false);
      if (ready.isDone()) {
        ready = new CompletableFuture<>();
      }
      if (!closing.get()) {
        log.warn("Command bridge {} lost its MQTT connection to {}: {}; reconnecting automatically",
            settings.instanceId(), settings.mqttServerUri(), response);
      }
    }

    @Override
    public void messageArrived(String topic, MqttMessage message) {
      replyHandler.accept(topic, message);
    }

    @Override
    public void mqttErrorOccurred(MqttException exception) {
      log.warn("Command bridge {}: MQTT error: {}", settings.instanceId(), exception.toString());
    }

    @Override
    public void deliveryComplete(IMqttToken token) {}

    @Override
    public void authPacketArrived(int reasonCode, MqttProperties properties) {}
  }
}
