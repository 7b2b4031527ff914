package io.fleetplane.bridge.command.domain;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.fleetplane.config.ids.DeviceSessionId;
import io.fleetplane.config.ids.RaeSerial;
import java.nio.charset.StandardCharsets;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * Golden JSON of every format the bridge writes: these strings are the contract in
 * docs/protocol.md section 8, so a change here is a protocol change.
 */
class WireFormatTest {

  private static final DeviceSessionId SESSION = new DeviceSessionId("3f2b8c1e-9a4d-4e7b-8c2a-1d5e6f7a8b9c");
  private static final DeviceCommand COMMAND = new DeviceCommand(new CommandId("7d1f0c52-2f1e-4a53-9b0e-0c6a1f3e9d21"),
      new RaeSerial("RAE-1"), SESSION, "reboot",
      WireJson.object("{\"delaySeconds\":5}".getBytes(StandardCharsets.UTF_8)), 30000,
      1732300000000L);

  @Test
  void kafkaCommandRecord() {
    assertEquals("{\"type\":\"device-command\",\"version\":1,\"commandId\":\"7d1f0c52-2f1e-4a53-9b0e-0c6a1f3e9d21\","
        + "\"raeSerial\":\"RAE-1\",\"deviceSessionId\":\"3f2b8c1e-9a4d-4e7b-8c2a-1d5e6f7a8b9c\",\"name\":\"reboot\","
        + "\"params\":{\"delaySeconds\":5},\"timeoutMs\":30000,\"ts\":1732300000000}",
        new String(COMMAND.toRecordJson(), StandardCharsets.UTF_8));
  }

  @Test
  void mqttCommandPayload() {
    assertEquals("{\"type\":\"command\",\"version\":1,\"commandId\":\"7d1f0c52-2f1e-4a53-9b0e-0c6a1f3e9d21\","
        + "\"name\":\"reboot\",\"params\":{\"delaySeconds\":5},\"timeoutMs\":30000,\"deadline\":1732300030000,"
        + "\"replyTo\":\"fleet/rae/RAE-1/device/3f2b8c1e-9a4d-4e7b-8c2a-1d5e6f7a8b9c/command-reply\","
        + "\"ts\":1732300000000}",
        new String(MqttCommandPayload.encode(COMMAND, COMMAND.deadline(1732300000100L)), StandardCharsets.UTF_8));
  }

  @Test
  void kafkaReplyRecordFromDeviceAndFromBridge() {
    DeviceReply device = new DeviceReply(new CommandTopics.Session(COMMAND.raeSerial(), SESSION),
        COMMAND.commandId(), CommandStatus.SUCCEEDED,
        WireJson.object("{\"rebooted\":true}".getBytes(StandardCharsets.UTF_8)), Optional.empty(),
        Optional.of(1732300001200L));
    CommandReply fromDevice = CommandReply.fromDevice(COMMAND, device, 1732300001234L);
    assertEquals("{\"type\":\"device-command-reply\",\"version\":1,\"commandId\":\"7d1f0c52-2f1e-4a53-9b0e-0c6a1f3e9d21\","
        + "\"raeSerial\":\"RAE-1\",\"deviceSessionId\":\"3f2b8c1e-9a4d-4e7b-8c2a-1d5e6f7a8b9c\",\"name\":\"reboot\","
        + "\"status\":\"succeeded\",\"result\":{\"rebooted\":true},\"error\":null,\"source\":\"device\","
        + "\"ts\":1732300001234,\"deviceTs\":1732300001200}",
        new String(fromDevice.toJson(), StandardCharsets.UTF_8));
    assertEquals(fromDevice, CommandReply.parse(fromDevice.toJson()));

    CommandReply timedOut = CommandReply.fromBridge(COMMAND, CommandStatus.TIMED_OUT,
        BridgeErrorCodes.TIMED_OUT, "no reply from the device within 30000 ms", 1732300030050L);
    assertEquals("{\"type\":\"device-command-reply\",\"version\":1,\"commandId\":\"7d1f0c52-2f1e-4a53-9b0e-0c6a1f3e9d21\","
        + "\"raeSerial\":\"RAE-1\",\"deviceSessionId\":\"3f2b8c1e-9a4d-4e7b-8c2a-1d5e6f7a8b9c\",\"name\":\"reboot\","
        + "\"status\":\"timed-out\",\"result\":null,\"error\":{\"code\":\"command.timed-out\","
        + "\"message\":\"no reply from the device within 30000 ms\"},\"source\":\"bridge\",\"ts\":1732300030050}",
        new String(timedOut.toJson(), StandardCharsets.UTF_8));
    assertEquals(timedOut, CommandReply.parse(timedOut.toJson()));
  }
}
