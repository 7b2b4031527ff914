package io.fleetplane.bridge.command.domain;

import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * The JSON the device receives on {@code .../command} (docs/protocol.md section 8, "MQTT command
 * payload"). It repeats in the payload what MQTT 5 carries as properties (the reply topic as
 * {@code replyTo}, the correlation data as {@code commandId}) so that MQTT 3.1.1 devices, which
 * never see properties, can answer too.
 */
public final class MqttCommandPayload {

  public static final String TYPE = "command";
  public static final int VERSION = 1;

  private MqttCommandPayload() {}

  /**
   * @param deadline epoch milliseconds after which the device should not start the command
   *     (nobody waits for its reply any more)
   */
  public static byte[] encode(DeviceCommand command, long deadline) {
    ObjectNode o = WireJson.MAPPER.createObjectNode();
    o.put("type", TYPE);
    o.put("version", VERSION);
    o.put("commandId", command.commandId().value());
    o.put("name", command.name());
    o.set("params", command.params().deepCopy());
    o.put("timeoutMs", command.timeoutMs());
    o.put("deadline", deadline);
    o.put("replyTo", command.replyTopic());
    o.put("ts", command.ts());
    return WireJson.bytes(o);
  }
}
