package io.fleetplane.bridge;

import io.fleetplane.bridge.domain.InboundRouting;
import io.fleetplane.bridge.domain.InboundRouting.Route;
import io.fleetplane.bridge.domain.InboundRouting.ToDeadLetters;
import io.fleetplane.bridge.domain.InboundRouting.ToDeviceEvents;
import io.fleetplane.bridge.domain.TraceParent;
import io.fleetplane.config.ErrorCode;
import io.fleetplane.config.KafkaHeaders;
import io.fleetplane.config.KafkaSettings;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.random.RandomGenerator;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;

/**
 * Turns one inbound MQTT message into the Kafka record the platform expects (docs/protocol.md):
 * a device event keyed by {@code fleet/rae/{raeSerial}/device/{deviceSessionId}}, or a dead
 * letter keyed by the (shortened) topic. Both carry the same headers: the full topic, the QoS,
 * the receive time, the trace context and the bridge instance; dead letters add the reason.
 *
 * <p>No Akka, no I/O: unit-tested directly.
 */
final class InboundRecords {

  /** Kafka header carrying the W3C trace context (candidate for {@link KafkaHeaders}). */
  static final String TRACEPARENT_HEADER = TraceParent.NAME;
  /** Dead letters keep at most this much of an oversized payload, enough to identify its sender. */
  static final int TRUNCATED_PAYLOAD_BYTES = 16 * 1024;
  private static final int MAX_KEY_CHARS = 256;

  private final KafkaSettings kafka;
  private final String instanceId;
  private final InboundRouting routing;
  private final RandomGenerator random;

  InboundRecords(KafkaSettings kafka, String instanceId, int maxPayloadBytes, RandomGenerator random) {
    this.kafka = kafka;
    this.instanceId = instanceId;
    this.routing = new InboundRouting(maxPayloadBytes);
    this.random = random;
  }

  /**
   * The record and why it goes where it goes.
   *
   * @param traceGenerated true when the device sent no (valid) trace context and we started one
   */
  record Built(ProducerRecord<String, byte[]> record, Route route, boolean traceGenerated) {}

  Built build(InboundMessage in) {
    Route route = routing.route(in.topic(), in.payload());
    TraceParent device = in.deviceTraceparent().flatMap(TraceParent::parse).orElse(null);
    TraceParent trace = device != null ? device : TraceParent.generate(random);
    List<Header> headers = new ArrayList<>(7);
    headers.add(header(KafkaHeaders.MQTT_TOPIC, in.topic()));
    headers.add(header(KafkaHeaders.MQTT_QOS, Integer.toString(in.qos())));
    headers.add(header(KafkaHeaders.RECEIVED_AT, Long.toString(in.receivedAtMillis())));
    headers.add(header(TRACEPARENT_HEADER, trace.value()));
    headers.add(header(KafkaHeaders.BRIDGE_INSTANCE, instanceId));
    ProducerRecord<String, byte[]> record;
    if (route instanceof ToDeviceEvents device1) {
      record = new ProducerRecord<>(kafka.deviceEventsTopic(), null, device1.topic().sessionKey(),
          in.payload(), headers);
    } else {
      ToDeadLetters dead = (ToDeadLetters) route;
      headers.add(header(KafkaHeaders.ERROR_CODE, dead.reason().code()));
      boolean truncate = dead.reason() == ErrorCode.PAYLOAD_TOO_LARGE
          && in.payload().length > TRUNCATED_PAYLOAD_BYTES;
      headers.add(header(KafkaHeaders.ERROR_DETAIL, truncate
          ? dead.detail() + "; this dead letter keeps only its first " + TRUNCATED_PAYLOAD_BYTES + " bytes"
          : dead.detail()));
      headers.add(header(KafkaHeaders.REJECTED_BY, "bridge"));
      // An oversized payload could exceed Kafka's own record limit and fail the stream on every
      // redelivery: keep only its beginning (the detail header says so).
      byte[] payload = truncate ? Arrays.copyOf(in.payload(), TRUNCATED_PAYLOAD_BYTES) : in.payload();
      record = new ProducerRecord<>(kafka.deadLettersTopic(), null, shortened(in.topic()), payload, headers);
    }
    return new Built(record, route, device == null);
  }

  private static Header header(String key, String value) {
    return new RecordHeader(key, value.getBytes(StandardCharsets.UTF_8));
  }

  static String shortened(String topic) {
    return topic.length() > MAX_KEY_CHARS ? topic.substring(0, MAX_KEY_CHARS) + "..." : topic;
  }
}
