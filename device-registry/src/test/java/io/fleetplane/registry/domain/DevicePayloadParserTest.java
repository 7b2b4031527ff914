package io.fleetplane.registry.domain;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.fleetplane.config.ErrorCode;
import io.fleetplane.config.ids.DeviceTopic.Channel;
import java.nio.charset.StandardCharsets;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class DevicePayloadParserTest {

  private final DevicePayloadParser parser = new DevicePayloadParser(new ObjectMapper());

  private DeviceMessage parse(Channel channel, String json) {
    return parser.parse(channel, json.getBytes(StandardCharsets.UTF_8));
  }

  @Test
  void parsesTheSkeletonPayload() {
    DeviceMessage m = parse(Channel.UPDATE, "{\"ts\":1,\"attributes\":{\"esn\":\"X\",\"net\":{\"ip\":\"10.0.0.2\"}}}");
    assertEquals(1, m.deviceTimestampMillis());
    assertEquals("X", m.attributes().get("esn").asText());
    assertEquals("10.0.0.2", m.attributes().get("net").get("ip").asText());
    assertEquals(Optional.empty(), m.sequence());
  }

  @Test
  void readsSequenceStateAndConnection() {
    DeviceMessage m = parse(Channel.CONNECTION, "{\"version\":1,\"ts\":5,\"seq\":7,\"state\":\"in-test\",\"connected\":true}");
    assertEquals(Optional.of(7L), m.sequence());
    assertEquals(Optional.of("in-test"), m.testState());
    assertEquals(Optional.of(true), m.connected());
  }

  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
    "not json | payload.not-json",
    "[1] | payload.not-json",
    "{\"attributes\":{}} | payload.invalid",
    "{\"ts\":-1} | payload.invalid",
    "{\"ts\":\"1\"} | payload.invalid",
    "{\"ts\":1.5} | payload.invalid",
    "{\"ts\":1,\"attributes\":[1]} | payload.invalid",
    "{\"ts\":1,\"version\":2} | payload.invalid",
    "{\"ts\":1,\"seq\":\"x\"} | payload.invalid",
    "{\"ts\":1,\"state\":3} | payload.invalid",
    "{\"ts\":1,\"state\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"} | payload.invalid",
  })
  void rejectsWithTheFieldNamed(String json, String code) {
    InvalidDeviceMessageException e =
        assertThrows(InvalidDeviceMessageException.class, () -> parse(Channel.UPDATE, json));
    assertEquals(code, e.errorCode().code(), e.getMessage());
  }

  @Test
  void connectionMessagesMustSayWhetherConnected() {
    InvalidDeviceMessageException e =
        assertThrows(InvalidDeviceMessageException.class, () -> parse(Channel.CONNECTION, "{\"ts\":1}"));
    assertEquals(ErrorCode.PAYLOAD_INVALID, e.errorCode());
  }
}
