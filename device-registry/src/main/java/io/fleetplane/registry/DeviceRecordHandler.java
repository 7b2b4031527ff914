package io.fleetplane.registry;

import akka.Done;
import io.fleetplane.config.ErrorCode;
import io.fleetplane.config.InvalidInputException;
import io.fleetplane.config.KafkaHeaders;
import io.fleetplane.config.ids.DeviceTopic;
import io.fleetplane.registry.domain.DeviceMessage;
import io.fleetplane.registry.domain.DevicePayloadParser;
import io.fleetplane.registry.domain.InvalidDeviceMessageException;
import io.fleetplane.registry.domain.Lineage;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletionStage;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.Header;

/**
 * What the registry does with one device-events record, without any stream wiring: validate it,
 * then either hand it to its session or dead-letter it. Tested without Kafka; the ingest stream
 * calls it once per record, in partition order.
 */
public final class DeviceRecordHandler {

  /** Delivers a valid message to its session; completes once the session persisted it. */
  @FunctionalInterface
  public interface SessionGateway {
    CompletionStage<Done> apply(String deviceSessionId, String raeSerial, DeviceMessage message, Lineage lineage);
  }

  /** Sends a rejected record to the dead-letter topic; completes once Kafka acknowledged it. */
  @FunctionalInterface
  public interface DeadLetters {
    CompletionStage<Done> send(ConsumerRecord<String, byte[]> record, ErrorCode reason, String detail);
  }

  private final DevicePayloadParser parser;
  private final SessionGateway sessions;
  private final DeadLetters deadLetters;

  public DeviceRecordHandler(DevicePayloadParser parser, SessionGateway sessions, DeadLetters deadLetters) {
    this.parser = parser;
    this.sessions = sessions;
    this.deadLetters = deadLetters;
  }

  public CompletionStage<Done> handle(ConsumerRecord<String, byte[]> record) {
    DeviceTopic topic;
    DeviceMessage message;
    try {
      String mqttTopic = header(record, KafkaHeaders.MQTT_TOPIC);
      if (mqttTopic == null) {
        throw new InvalidDeviceMessageException(ErrorCode.MQTT_TOPIC_UNKNOWN,
            "record has no '" + KafkaHeaders.MQTT_TOPIC + "' header");
      }
      topic = DeviceTopic.parse(mqttTopic);
      if (!topic.sessionKey().equals(record.key())) {
        throw new InvalidDeviceMessageException(ErrorCode.MQTT_TOPIC_UNKNOWN,
            "record key '" + record.key() + "' does not match its topic '" + mqttTopic + "'");
      }
      message = parser.parse(topic.channel(), record.value() == null ? new byte[0] : record.value());
    } catch (InvalidInputException e) {
      return deadLetters.send(record, e.errorCode(), e.getMessage());
    }
    Lineage lineage = new Lineage(topic.topic(), record.partition(), record.offset(), receivedAt(record));
    return sessions.apply(topic.deviceSessionId().value(), topic.raeSerial().value(), message, lineage);
  }

  /** Dead-letters a record the caller could not handle (an unexpected failure). */
  public CompletionStage<Done> deadLetter(ConsumerRecord<String, byte[]> record, ErrorCode reason, String detail) {
    return deadLetters.send(record, reason, detail);
  }

  private static long receivedAt(ConsumerRecord<String, byte[]> record) {
    String header = header(record, KafkaHeaders.RECEIVED_AT);
    try {
      return header == null ? record.timestamp() : Long.parseLong(header);
    } catch (NumberFormatException e) {
      return record.timestamp();
    }
  }

  static String header(ConsumerRecord<String, byte[]> record, String name) {
    Header header = record.headers().lastHeader(name);
    return header == null ? null : new String(header.value(), StandardCharsets.UTF_8);
  }
}
