package io.fleetplane.bridge.command.domain;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fleetplane.bridge.command.domain.CommandRecordParser.Invalid;
import io.fleetplane.bridge.command.domain.CommandRecordParser.Valid;
import io.fleetplane.config.ErrorCode;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class CommandRecordParserTest {

  private static final String SESSION = "3f2b8c1e-9a4d-4e7b-8c2a-1d5e6f7a8b9c";
  private static final String KEY = "fleet/rae/RAE-1/device/" + SESSION;
  private final CommandRecordParser parser =
      new CommandRecordParser(1024, Duration.ofSeconds(30), Duration.ofMinutes(10));

  private static byte[] json(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private static String record(String extra) {
    return "{\"type\":\"device-command\",\"version\":1,\"commandId\":\"c-1\",\"raeSerial\":\"RAE-1\","
        + "\"deviceSessionId\":\"" + SESSION + "\",\"name\":\"reboot\",\"ts\":1000" + extra + "}";
  }

  @Test
  void readsAFullRecordAndRoundTripsThroughItsOwnEncoding() {
    Valid valid = assertInstanceOf(Valid.class, parser.parse(KEY,
        json(record(",\"params\":{\"delay\":5},\"timeoutMs\":2000,\"future\":true")), "c-1"));
    DeviceCommand c = valid.command();
    assertEquals("c-1", c.commandId().value());
    assertEquals("reboot", c.name());
    assertEquals(5, c.params().get("delay").asInt());
    assertEquals(2000, c.timeoutMs());
    assertEquals(KEY, c.sessionKey());
    assertEquals(KEY + "/command", c.commandTopic());
    assertEquals(KEY + "/command-reply", c.replyTopic());
    assertEquals(c, ((Valid) parser.parse(KEY, c.toRecordJson(), null)).command());
  }

  @Test
  void defaultsTimeoutAndParams() {
    DeviceCommand c = ((Valid) parser.parse(KEY, json(record("")), null)).command();
    assertEquals(30_000, c.timeoutMs());
    assertEquals(0, c.params().size());
  }

  @Test
  void deadlineCountsFromTsButNeverFromTheFuture() {
    DeviceCommand c = ((Valid) parser.parse(KEY, json(record(",\"timeoutMs\":2000")), null)).command();
    assertEquals(3000, c.deadline(5000), "from ts: a command that waited in Kafka expires");
    assertEquals(2500, c.deadline(500), "ts ahead of our clock: from receipt");
  }

  @Test
  void eachProblemHasItsStableCodeAndSaysWhatIsWrong() {
    assertInvalid(ErrorCode.PAYLOAD_NOT_JSON, "not valid JSON", KEY, "not json");
    assertInvalid(ErrorCode.PAYLOAD_NOT_JSON, "expected a JSON object", KEY, "[1]");
    assertInvalid(ErrorCode.PAYLOAD_INVALID, "empty record", KEY, "");
    assertInvalid(ErrorCode.PAYLOAD_TOO_LARGE, "exceeds the limit of 1024", KEY,
        record(",\"params\":{\"x\":\"" + "y".repeat(1100) + "\"}"));
    assertInvalid(ErrorCode.PAYLOAD_INVALID, "'type' must be 'device-command'", KEY,
        record("").replace("device-command", "other"));
    assertInvalid(ErrorCode.PAYLOAD_INVALID, "unsupported device-command version 2", KEY,
        record("").replace("\"version\":1", "\"version\":2"));
    assertInvalid(ErrorCode.PAYLOAD_INVALID, "'commandId'", KEY,
        record("").replace("\"c-1\"", "\"a/b\""));
    assertInvalid(ErrorCode.RAE_SERIAL_INVALID, "'raeSerial'", KEY,
        record("").replace("\"RAE-1\"", "\"RAE+1\""));
    assertInvalid(ErrorCode.DEVICE_SESSION_ID_INVALID, "'deviceSessionId'", KEY,
        record("").replace(SESSION, "not-a-uuid"));
    assertInvalid(ErrorCode.PAYLOAD_INVALID, "'name'", KEY,
        record("").replace("\"reboot\"", "\"re boot\""));
    assertInvalid(ErrorCode.PAYLOAD_INVALID, "'params' must be a JSON object", KEY,
        record(",\"params\":[1]"));
    assertInvalid(ErrorCode.PAYLOAD_INVALID, "'timeoutMs' must be 1..600000", KEY,
        record(",\"timeoutMs\":600001"));
    assertInvalid(ErrorCode.PAYLOAD_INVALID, "'timeoutMs' must be an integer", KEY,
        record(",\"timeoutMs\":\"5s\""));
    assertInvalid(ErrorCode.PAYLOAD_INVALID, "'ts' is missing", KEY,
        record("").replace(",\"ts\":1000", ""));
    assertInvalid(ErrorCode.PAYLOAD_INVALID, "record key must be the session key", "other-key",
        record(""));
    assertInvalid(ErrorCode.PAYLOAD_INVALID, "record key must be the session key", null,
        record(""));
    assertInvalid(ErrorCode.PAYLOAD_NOT_JSON, "Duplicate field", KEY,
        record(",\"name\":\"reboot\""));
  }

  @Test
  void aMismatchingCommandIdHeaderIsRefusedAndTheIdIsKeptForLogs() {
    Invalid invalid = assertInstanceOf(Invalid.class, parser.parse(KEY, json(record("")), "c-2"));
    assertTrue(invalid.detail().contains("'command-id' header 'c-2' differs"), invalid.detail());
    assertEquals("c-1", invalid.commandId().orElseThrow().value());
  }

  private void assertInvalid(ErrorCode code, String detail, String key, String value) {
    Invalid invalid = assertInstanceOf(Invalid.class, parser.parse(key, json(value), null), value);
    assertEquals(code, invalid.reason(), invalid.detail());
    assertTrue(invalid.detail().contains(detail), "'" + invalid.detail() + "' should mention " + detail);
  }
}
