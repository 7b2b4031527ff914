package io.fleetplane.testkit.device;

import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import org.eclipse.paho.mqttv5.client.IMqttToken;
import org.eclipse.paho.mqttv5.client.MqttActionListener;
import org.eclipse.paho.mqttv5.client.MqttAsyncClient;
import org.eclipse.paho.mqttv5.client.MqttCallback;
import org.eclipse.paho.mqttv5.client.MqttConnectionOptions;
import org.eclipse.paho.mqttv5.client.MqttDisconnectResponse;
import org.eclipse.paho.mqttv5.client.TimerPingSender;
import org.eclipse.paho.mqttv5.client.persist.MemoryPersistence;
import org.eclipse.paho.mqttv5.common.MqttException;
import org.eclipse.paho.mqttv5.common.MqttMessage;
import org.eclipse.paho.mqttv5.common.MqttSubscription;
import org.eclipse.paho.mqttv5.common.packet.MqttProperties;

/** A device's MQTT 5 connection (Paho v5). */
final class V5DeviceConnection implements DeviceConnection {

  private final Options options;
  private final MqttAsyncClient client;

  V5DeviceConnection(Options options) {
    this.options = options;
    try {
      client = options.sharedThreads() == null
          ? new MqttAsyncClient(options.serverUri(), options.clientId(), new MemoryPersistence())
          : new MqttAsyncClient(options.serverUri(), options.clientId(), new MemoryPersistence(),
              new TimerPingSender(options.sharedThreads()), options.sharedThreads());
    } catch (MqttException e) {
      throw failure("create an MQTT 5 client for " + options.serverUri(), e);
    }
    client.setCallback(new MqttCallback() {
      @Override
      public void messageArrived(String topic, MqttMessage message) {
        MqttProperties p = message.getProperties();
        options.onMessage().accept(new Incoming(topic, message.getPayload(),
            p == null ? null : p.getResponseTopic(), p == null ? null : p.getCorrelationData()));
      }

      @Override
      public void disconnected(MqttDisconnectResponse response) {}

      @Override
      public void mqttErrorOccurred(MqttException exception) {}

      @Override
      public void deliveryComplete(IMqttToken token) {}

      @Override
      public void connectComplete(boolean reconnect, String serverUri) {}

      @Override
      public void authPacketArrived(int reasonCode, MqttProperties properties) {}
    });
  }

  @Override
  public void connect() {
    MqttConnectionOptions o = new MqttConnectionOptions();
    o.setCleanStart(options.cleanStart());
    o.setConnectionTimeout((int) Math.max(1, options.timeout().toSeconds()));
    o.setKeepAliveInterval(30);
    if (options.username() != null) {
      o.setUserName(options.username());
    }
    if (options.password() != null) {
      o.setPassword(options.password().getBytes(StandardCharsets.UTF_8));
    }
    try {
      client.connect(o).waitForCompletion(options.timeout().toMillis());
    } catch (MqttException e) {
      throw failure("connect to " + options.serverUri() + " as '" + options.clientId() + "'", e);
    }
  }

  @Override
  public void subscribe(String filter, int qos) {
    try {
      IMqttToken token = client.subscribe(new MqttSubscription(filter, qos));
      token.waitForCompletion(options.timeout().toMillis());
      int[] codes = token.getReasonCodes();
      if (codes != null && codes.length > 0 && codes[0] >= 0x80) {
        throw new DeviceMqttException("The broker refused the subscription to '" + filter + "'",
            codes[0], null);
      }
    } catch (MqttException e) {
      throw failure("subscribe to '" + filter + "'", e);
    }
  }

  @Override
  public CompletionStage<Void> publishAsync(String topic, byte[] payload, int qos, byte[] correlationData) {
    MqttMessage message = new MqttMessage(payload);
    message.setQos(qos);
    MqttProperties properties = new MqttProperties();
    if (correlationData != null) {
      properties.setCorrelationData(correlationData);
    }
    properties.setContentType("application/json");
    message.setProperties(properties);
    CompletableFuture<Void> acknowledged = new CompletableFuture<>();
    try {
      client.publish(topic, message, null, new MqttActionListener() {
        @Override
        public void onSuccess(IMqttToken token) {
          int[] codes = token.getReasonCodes();
          if (codes != null && codes.length > 0 && codes[0] >= 0x80) {
            acknowledged.completeExceptionally(new DeviceMqttException("The broker refused the publish to '" + topic
                + "'", codes[0], null));
          } else {
            acknowledged.complete(null);
          }
        }

        @Override
        public void onFailure(IMqttToken token, Throwable error) {
          acknowledged.completeExceptionally(error instanceof MqttException e ? failure("publish to '" + topic + "'", e)
              : error);
        }
      });
    } catch (MqttException e) {
      acknowledged.completeExceptionally(failure("publish to '" + topic + "'", e));
    }
    return acknowledged.orTimeout(options.timeout().toMillis(), TimeUnit.MILLISECONDS);
  }

  @Override
  public boolean isConnected() {
    return client.isConnected();
  }

  @Override
  public void close() {
    try {
      if (client.isConnected()) {
        client.disconnect(1_000).waitForCompletion(options.timeout().toMillis());
      }
    } catch (MqttException ignored) {
      // Closing anyway.
    }
    try {
      client.close(true);
    } catch (MqttException ignored) {
      // Nothing left to release.
    }
  }

  private DeviceMqttException failure(String what, MqttException e) {
    return new DeviceMqttException("Device '" + options.clientId() + "' could not " + what + ": "
        + e.getMessage(), e.getReasonCode(), e);
  }
}
