package io.fleetplane.bridge.domain;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

import io.fleetplane.bridge.domain.InboundRouting.ToDeadLetters;
import io.fleetplane.bridge.domain.InboundRouting.ToDeviceEvents;
import io.fleetplane.config.ErrorCode;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class InboundRoutingTest {

  private static final String TOPIC = "fleet/rae/RAE-1/device/3f2b8c1e-9a4d-4e7b-8c2a-1d5e6f7a8b9c/update";
  private final InboundRouting routing = new InboundRouting(64);

  private static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  @Test
  void aValidDeviceMessageIsKeyedByItsSession() {
    var route = assertInstanceOf(ToDeviceEvents.class,
        routing.route(TOPIC, bytes("{\"ts\":1,\"attributes\":{\"esn\":\"X\"}}")));
    assertEquals("fleet/rae/RAE-1/device/3f2b8c1e-9a4d-4e7b-8c2a-1d5e6f7a8b9c", route.topic().sessionKey());
  }

  @Test
  void wrongTopicsAreDeadLetteredWithTheTopicCode() {
    var dead = assertInstanceOf(ToDeadLetters.class, routing.route("fleet/other", bytes("{}")));
    assertEquals(ErrorCode.MQTT_TOPIC_UNKNOWN, dead.reason());
  }

  @Test
  void oversizedPayloadsAreDeadLetteredBeforeParsing() {
    var dead = assertInstanceOf(ToDeadLetters.class, routing.route(TOPIC, new byte[65]));
    assertEquals(ErrorCode.PAYLOAD_TOO_LARGE, dead.reason());
    assertEquals("payload of 65 bytes exceeds the limit of 64", dead.detail());
  }

  @Test
  void anythingButExactlyOneJsonObjectIsNotJson() {
    for (String bad : new String[] {"", "not json", "[1,2]", "42", "{\"a\":1", "{} {}", "{\"a\":}"}) {
      var dead = assertInstanceOf(ToDeadLetters.class, routing.route(TOPIC, bytes(bad)), bad);
      assertEquals(ErrorCode.PAYLOAD_NOT_JSON, dead.reason(), bad);
    }
  }
}
