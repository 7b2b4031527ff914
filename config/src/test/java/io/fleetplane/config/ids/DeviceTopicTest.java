package io.fleetplane.config.ids;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fleetplane.config.ErrorCode;
import io.fleetplane.config.ids.DeviceTopic.Channel;
import io.fleetplane.config.ids.DeviceTopic.InvalidTopicException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class DeviceTopicTest {

  private static final String SESSION = "3f2b8c1e-9a4d-4e7b-8c2a-1d5e6f7a8b9c";

  @Test
  void parsesEveryChannelAndKeysBySessionPrefix() {
    for (Channel channel : Channel.values()) {
      String topic = "fleet/rae/RAE-1/device/" + SESSION + "/" + channel.topicLevel();
      DeviceTopic parsed = DeviceTopic.parse(topic);
      assertEquals("RAE-1", parsed.raeSerial().value());
      assertEquals(SESSION, parsed.deviceSessionId().value());
      assertEquals(channel, parsed.channel());
      assertEquals("fleet/rae/RAE-1/device/" + SESSION, parsed.sessionKey());
      assertEquals(topic, parsed.topic());
    }
  }

  @ParameterizedTest
  @CsvSource({
    "other/rae/RAE-1/device/" + SESSION + "/update, mqtt.topic-unknown",
    "fleet/rae/RAE-1/device/" + SESSION + "/reboot, mqtt.topic-unknown",
    "fleet/rae/RAE-1/device/" + SESSION + "/update/extra, mqtt.topic-unknown",
    "fleet/rae/RAE-1/rig/" + SESSION + "/update, mqtt.topic-unknown",
    "fleet/rae/RAE-1/device/not-a-uuid/update, device.session-id-invalid",
    "fleet/rae/RAE-1/device/3F2B8C1E-9A4D-4E7B-8C2A-1D5E6F7A8B9C/update, device.session-id-invalid",
    "fleet/rae/RAE 1/device/" + SESSION + "/update, device.rae-serial-invalid",
    "fleet/rae//device/" + SESSION + "/update, device.rae-serial-invalid",
  })
  void rejectsWithTheCodeThatNamesTheProblem(String topic, String code) {
    InvalidTopicException e = assertThrows(InvalidTopicException.class, () -> DeviceTopic.parse(topic));
    assertEquals(code, e.errorCode().code());
    assertTrue(e.getMessage().contains("topic '"), e.getMessage());
  }

  @Test
  void sessionIdAcceptsOnlyTheCanonicalForm() {
    assertTrue(DeviceSessionId.parse(SESSION).isPresent());
    assertTrue(DeviceSessionId.parse("1-1-1-1-1").isEmpty());
    InvalidIdException e = assertThrows(InvalidIdException.class, () -> new DeviceSessionId("x\u0000y"));
    assertEquals(ErrorCode.DEVICE_SESSION_ID_INVALID, e.errorCode());
    assertTrue(e.getMessage().contains("x?y"), "control characters are not echoed: " + e.getMessage());
  }

  @Test
  void raeSerialRejectsMqttWildcardsAndSeparators() {
    for (String bad : new String[] {"+", "#", "a/b", "", "-lead", "x".repeat(65)}) {
      assertTrue(RaeSerial.parse(bad).isEmpty(), bad);
    }
    assertTrue(RaeSerial.parse("RAE_1.lab-2").isPresent());
  }
}
