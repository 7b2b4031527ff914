package io.fleetplane.testkit.device;

/** Which MQTT version a simulated device speaks. */
public enum MqttProtocol {
  /**
   * MQTT 5 (Paho v5): reads the reply topic and correlation data from the command's properties
   * and echoes the correlation data on its reply.
   */
  MQTT_5,
  /**
   * MQTT 3.1.1 (Paho v3): sees no properties, so it takes {@code replyTo} and {@code commandId}
   * from the command's payload and puts {@code commandId} into its reply's payload.
   */
  MQTT_3_1_1
}
