package io.fleetplane.bridge;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fleetplane.bridge.domain.TraceParent;
import io.fleetplane.config.KafkaHeaders;
import io.fleetplane.config.KafkaSettings;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Optional;
import java.util.SplittableRandom;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.Header;
import org.junit.jupiter.api.Test;

class InboundRecordsTest {

  private static final String SESSION = "3f2b8c1e-9a4d-4e7b-8c2a-1d5e6f7a8b9c";
  private static final String TOPIC = "fleet/rae/RAE-1/device/" + SESSION + "/update";
  private static final String TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

  private final InboundRecords records = new InboundRecords(
      new KafkaSettings("127.0.0.1:1", Map.of(), "events", "dead", 1), "bridge-x", 64 * 1024,
      new SplittableRandom(3));

  private static InboundMessage message(String topic, byte[] payload, Optional<String> trace) {
    return new InboundMessage(topic, payload, 1, 7, 1_700_000_000_000L, trace, null);
  }

  private static String header(ProducerRecord<String, byte[]> record, String name) {
    Header h = record.headers().lastHeader(name);
    return h == null ? null : new String(h.value(), StandardCharsets.UTF_8);
  }

  @Test
  void aDeviceMessageIsKeyedBySessionAndCarriesEveryHeader() {
    byte[] payload = "{\"version\":1,\"ts\":1}".getBytes(StandardCharsets.UTF_8);
    var built = records.build(message(TOPIC, payload, Optional.of(TRACE)));
    ProducerRecord<String, byte[]> r = built.record();
    assertEquals("events", r.topic());
    assertEquals("fleet/rae/RAE-1/device/" + SESSION, r.key());
    assertArrayEquals(payload, r.value());
    assertEquals(TOPIC, header(r, KafkaHeaders.MQTT_TOPIC));
    assertEquals("1", header(r, KafkaHeaders.MQTT_QOS));
    assertEquals("1700000000000", header(r, KafkaHeaders.RECEIVED_AT));
    assertEquals("bridge-x", header(r, KafkaHeaders.BRIDGE_INSTANCE));
    assertEquals(TRACE, header(r, "traceparent"));
    assertEquals(false, built.traceGenerated());
    assertNull(header(r, KafkaHeaders.ERROR_CODE));
  }

  @Test
  void aMissingOrInvalidTraceContextIsReplacedByANewOne() {
    byte[] payload = "{}".getBytes(StandardCharsets.UTF_8);
    for (Optional<String> trace : java.util.List.of(Optional.<String>empty(), Optional.of("nonsense"))) {
      var built = records.build(message(TOPIC, payload, trace));
      assertTrue(built.traceGenerated());
      assertTrue(TraceParent.parse(header(built.record(), "traceparent")).isPresent());
    }
  }

  @Test
  void badInputBecomesADeadLetterWithTheReason() {
    var built = records.build(message("fleet/rae/RAE-1/device/NOT-A-UUID/update",
        "{}".getBytes(StandardCharsets.UTF_8), Optional.empty()));
    ProducerRecord<String, byte[]> r = built.record();
    assertEquals("dead", r.topic());
    assertEquals("fleet/rae/RAE-1/device/NOT-A-UUID/update", r.key());
    assertEquals("device.session-id-invalid", header(r, KafkaHeaders.ERROR_CODE));
    assertEquals("bridge", header(r, KafkaHeaders.REJECTED_BY));
    assertTrue(header(r, KafkaHeaders.ERROR_DETAIL).contains("lower-case UUID"));
    assertTrue(TraceParent.parse(header(r, "traceparent")).isPresent());
  }

  @Test
  void oversizedPayloadsKeepOnlyTheirBeginningSoTheyFitKafka() {
    byte[] huge = new byte[900 * 1024];
    var built = records.build(message(TOPIC, huge, Optional.empty()));
    assertEquals("payload.too-large", header(built.record(), KafkaHeaders.ERROR_CODE));
    assertEquals(InboundRecords.TRUNCATED_PAYLOAD_BYTES, built.record().value().length);
    assertTrue(header(built.record(), KafkaHeaders.ERROR_DETAIL).contains("first 16384 bytes"));
  }
}
