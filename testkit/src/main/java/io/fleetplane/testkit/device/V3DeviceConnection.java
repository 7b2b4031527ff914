package io.fleetplane.testkit.device;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import org.eclipse.paho.client.mqttv3.IMqttActionListener;
import org.eclipse.paho.client.mqttv3.IMqttDeliveryToken;
import org.eclipse.paho.client.mqttv3.IMqttToken;
import org.eclipse.paho.client.mqttv3.MqttAsyncClient;
import org.eclipse.paho.client.mqttv3.MqttCallback;
import org.eclipse.paho.client.mqttv3.MqttConnectOptions;
import org.eclipse.paho.client.mqttv3.MqttException;
import org.eclipse.paho.client.mqttv3.MqttMessage;
import org.eclipse.paho.client.mqttv3.ScheduledExecutorPingSender;
import org.eclipse.paho.client.mqttv3.persist.MemoryPersistence;

/**
 * A device's MQTT 3.1.1 connection (Paho v3). MQTT 3.1.1 has no properties: what MQTT 5 carries
 * as response topic and correlation data must travel in the payload.
 */
final class V3DeviceConnection implements DeviceConnection {

  private final Options options;
  private final MqttAsyncClient client;

  V3DeviceConnection(Options options) {
    this.options = options;
    try {
      client = options.sharedThreads() == null
          ? new MqttAsyncClient(options.serverUri(), options.clientId(), new MemoryPersistence())
          : new MqttAsyncClient(options.serverUri(), options.clientId(), new MemoryPersistence(),
              new ScheduledExecutorPingSender(options.sharedThreads()), options.sharedThreads());
    } catch (MqttException e) {
      throw failure("create an MQTT 3.1.1 client for " + options.serverUri(), e);
    }
    client.setCallback(new MqttCallback() {
      @Override
      public void connectionLost(Throwable cause) {}

      @Override
      public void messageArrived(String topic, MqttMessage message) {
        options.onMessage().accept(new Incoming(topic, message.getPayload(), null, null));
      }

      @Override
      public void deliveryComplete(IMqttDeliveryToken token) {}
    });
  }

  @Override
  public void connect() {
    MqttConnectOptions o = new MqttConnectOptions();
    o.setMqttVersion(MqttConnectOptions.MQTT_VERSION_3_1_1);
    o.setCleanSession(options.cleanStart());
    o.setConnectionTimeout((int) Math.max(1, options.timeout().toSeconds()));
    o.setKeepAliveInterval(30);
    if (options.username() != null) {
      o.setUserName(options.username());
    }
    if (options.password() != null) {
      o.setPassword(options.password().toCharArray());
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
      var token = client.subscribe(filter, qos);
      token.waitForCompletion(options.timeout().toMillis());
      int[] granted = token.getGrantedQos();
      if (granted != null && granted.length > 0 && granted[0] == 0x80) {
        throw new DeviceMqttException("The broker refused the subscription to '" + filter + "'",
            0x80, null);
      }
    } catch (MqttException e) {
      throw failure("subscribe to '" + filter + "'", e);
    }
  }

  @Override
  public CompletionStage<Void> publishAsync(String topic, byte[] payload, int qos, byte[] correlationData) {
    MqttMessage message = new MqttMessage(payload);
    message.setQos(qos);
    CompletableFuture<Void> acknowledged = new CompletableFuture<>();
    try {
      client.publish(topic, message, null, new IMqttActionListener() {
        @Override
        public void onSuccess(IMqttToken token) {
          acknowledged.complete(null);
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
      client.close();
    } catch (MqttException ignored) {
      // Nothing left to release.
    }
  }

  private DeviceMqttException failure(String what, MqttException e) {
    return new DeviceMqttException("Device '" + options.clientId() + "' could not " + what + ": "
        + e.getMessage(), e.getReasonCode(), e);
  }
}
