package io.fleetplane.bridge.command.domain;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fleetplane.bridge.command.domain.DeviceReplyParser.Malformed;
import io.fleetplane.bridge.command.domain.DeviceReplyParser.Problem;
import io.fleetplane.bridge.command.domain.DeviceReplyParser.Valid;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class DeviceReplyParserTest {

  private static final String SESSION = "3f2b8c1e-9a4d-4e7b-8c2a-1d5e6f7a8b9c";
  private static final String TOPIC = "fleet/rae/RAE-1/device/" + SESSION + "/command-reply";
  private final DeviceReplyParser parser = new DeviceReplyParser(512);

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  @Test
  void mqtt5ReplyCorrelatesByProperty() {
    DeviceReply reply = ((Valid) parser.parse(TOPIC, utf8("{\"type\":\"command-reply\",\"version\":1,"
        + "\"status\":\"succeeded\",\"result\":{\"ok\":true},\"ts\":7}"), utf8("c-1"))).reply();
    assertEquals("c-1", reply.commandId().value());
    assertEquals(CommandStatus.SUCCEEDED, reply.status());
    assertTrue(reply.result().get("ok").asBoolean());
    assertEquals(7L, reply.deviceTs().orElseThrow());
    assertEquals("RAE-1", reply.session().raeSerial().value());
    assertEquals(SESSION, reply.session().deviceSessionId().value());
  }

  @Test
  void mqtt311ReplyCorrelatesByPayload() {
    DeviceReply reply = ((Valid) parser.parse(TOPIC, utf8("{\"type\":\"command-reply\",\"version\":1,"
        + "\"commandId\":\"c-9\",\"status\":\"failed\",\"error\":{\"code\":\"disk.full\","
        + "\"message\":\"no space\"}}"), null)).reply();
    assertEquals("c-9", reply.commandId().value());
    assertEquals(CommandStatus.FAILED, reply.status());
    assertEquals(new ReplyError("disk.full", "no space"), reply.error().orElseThrow());
    assertNull(reply.result());
  }

  @Test
  void unusableRepliesAreClassified() {
    String ok = "{\"type\":\"command-reply\",\"version\":1,\"commandId\":\"c-1\",\"status\":\"succeeded\"}";
    assertMalformed(Problem.TOPIC, "not a reply topic", "fleet/rae/RAE-1/device/" + SESSION + "/update", ok, null);
    assertMalformed(Problem.TOPIC, "not a reply topic", "fleet/rae/RAE-1/device/x/command-reply", ok, null);
    assertMalformed(Problem.TOO_LARGE, "exceeds 512", TOPIC, ok.replace("}", ",\"result\":\"" + "x".repeat(600) + "\"}"), null);
    assertMalformed(Problem.NOT_JSON, "not valid JSON", TOPIC, "{", null);
    assertMalformed(Problem.INVALID, "no command id", TOPIC, ok.replace("\"commandId\":\"c-1\",", ""), null);
    assertMalformed(Problem.INVALID, "differs from the correlation data", TOPIC, ok, "c-2");
    assertMalformed(Problem.INVALID, "'status' must be succeeded, failed or rejected", TOPIC,
        ok.replace("succeeded", "timed-out"), null);
    assertMalformed(Problem.INVALID, "unsupported command-reply version", TOPIC,
        ok.replace("\"version\":1", "\"version\":3"), null);
    assertMalformed(Problem.INVALID, "'error' must be an object", TOPIC,
        ok.replace("}", ",\"error\":\"bad\"}"), null);
    assertMalformed(Problem.INVALID, "not a valid command id", TOPIC, ok.replace("c-1", "c 1"), null);
  }

  private void assertMalformed(Problem problem, String detail, String topic, String payload, String correlation) {
    Malformed m = assertInstanceOf(Malformed.class,
        parser.parse(topic, utf8(payload), correlation == null ? null : utf8(correlation)));
    assertEquals(problem, m.problem(), m.detail());
    assertTrue(m.detail().contains(detail), "'" + m.detail() + "' should mention " + detail);
  }
}
