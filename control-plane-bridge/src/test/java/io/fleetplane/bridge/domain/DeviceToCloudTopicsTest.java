package io.fleetplane.bridge.domain;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Optional;
import org.eclipse.paho.mqttv5.common.util.MqttTopicValidator;
import org.junit.jupiter.api.Test;

class DeviceToCloudTopicsTest {

  @Test
  void exactlyTheThreeDeviceToCloudChannels() {
    assertEquals(List.of("fleet/rae/+/device/+/update", "fleet/rae/+/device/+/checkpoint",
        "fleet/rae/+/device/+/connection"), DeviceToCloudTopics.filters());
  }

  @Test
  void commandTopicsMatchNoneOfTheFilters() {
    String session = "3f2b8c1e-9a4d-4e7b-8c2a-1d5e6f7a8b9c";
    for (String topic : List.of("fleet/rae/R1/device/" + session + "/command",
        "fleet/rae/R1/device/" + session + "/command-reply")) {
      assertTrue(DeviceToCloudTopics.filters().stream()
          .noneMatch(f -> MqttTopicValidator.isMatched(f, topic)), topic);
    }
    assertTrue(DeviceToCloudTopics.filters().stream()
        .anyMatch(f -> MqttTopicValidator.isMatched(f, "fleet/rae/R1/device/" + session + "/update")));
  }

  @Test
  void sharedGroupPrefixesEveryFilter() {
    assertEquals("$share/bridges/fleet/rae/+/device/+/update",
        DeviceToCloudTopics.filters(Optional.of("bridges")).get(0));
    assertTrue(DeviceToCloudTopics.isValidGroup("bridges-1"));
    assertFalse(DeviceToCloudTopics.isValidGroup("a/b"));
    assertFalse(DeviceToCloudTopics.isValidGroup("+"));
    assertFalse(DeviceToCloudTopics.isValidGroup(""));
  }

  @Test
  void sessionLevelForLogContext() {
    assertEquals(Optional.of("abc"), DeviceToCloudTopics.sessionLevel("fleet/rae/R1/device/abc/update"));
    assertEquals(Optional.empty(), DeviceToCloudTopics.sessionLevel("other/topic"));
  }
}
