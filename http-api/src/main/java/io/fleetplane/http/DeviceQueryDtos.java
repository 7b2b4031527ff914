package io.fleetplane.http;

import com.fasterxml.jackson.databind.JsonNode;
import io.fleetplane.registry.DeviceSession;
import io.fleetplane.registry.domain.Lineage;
import io.fleetplane.registry.domain.Liveness;
import io.fleetplane.registry.readside.DeviceRow;
import io.fleetplane.registry.readside.DeviceStats;
import io.fleetplane.registry.readside.HistoryPage;
import io.fleetplane.registry.readside.ReadSideStatus;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Response bodies of the device list, stats and history. Separate from the read side's records
 * so the wire format changes only on purpose; device items have the shape of a single read.
 */
final class DeviceQueryDtos {

  private DeviceQueryDtos() {}

  /**
   * A page of devices.
   *
   * @param next link to the next page (same filters and sort), null on the last page
   * @param asOf when the projection behind the list last applied an event
   * @param lagSeconds age of the oldest journaled event the list does not reflect yet (0: current)
   * @param lagEvents journal positions the list does not reflect yet
   */
  record DeviceListResponse(List<DeviceItem> items, String next, Instant asOf, double lagSeconds, long lagEvents) {}

  /** One device as the list shows it; the fields of {@code GET /api/v1/devices/{id}} plus journal position. */
  record DeviceItem(
      String deviceSessionId,
      String raeSerial,
      Map<String, JsonNode> attributes,
      Map<String, Instant> attributesReportedAt,
      String testState,
      String connection,
      Instant connectionAsOf,
      Instant lastHeardAt,
      Instant lastUpdateAt,
      long appliedMessages,
      long journalSequenceNr) {

    static DeviceItem from(DeviceRow row, Instant now, Duration unknownAfter) {
      Map<String, JsonNode> attributes = new TreeMap<>();
      Map<String, Instant> reportedAt = new TreeMap<>();
      row.attributes().forEach((name, attribute) -> {
        attributes.put(name, attribute.value());
        reportedAt.put(name, attribute.reportedAt());
      });
      Liveness.Status liveness = row.liveness(now, unknownAfter);
      return new DeviceItem(row.deviceSessionId().toString(), row.raeSerial(), attributes, reportedAt,
          row.testState().orElse(null), liveness.connection().name(), liveness.asOf(), row.lastHeardAt(),
          row.lastUpdateAt(), row.appliedMessages(), row.journalSequenceNr());
    }
  }

  /** Counts by test state (value null: none reported), RAE and connection. */
  record DeviceStatsResponse(long total, List<DeviceStats.Count> byTestState, List<DeviceStats.Count> byRaeSerial,
      List<DeviceStats.Count> byConnection, Instant asOf, double lagSeconds, long lagEvents) {

    static DeviceStatsResponse from(DeviceStats stats) {
      ReadSideStatus status = stats.status();
      return new DeviceStatsResponse(stats.total(), stats.byTestState(), stats.byRaeSerial(), stats.byConnection(),
          status.asOf().orElse(null), seconds(status.lag()), status.lagEvents());
    }
  }

  /** A page of one session's history, oldest first; {@code next} links the following page. */
  record HistoryResponse(String deviceSessionId, List<HistoryItem> items, String next) {}

  /** One applied message with where it came from. */
  record HistoryItem(
      long sequenceNr,
      String channel,
      Instant appliedAt,
      Instant deviceTimestamp,
      Long deviceSequence,
      String raeSerial,
      Map<String, JsonNode> attributes,
      String testState,
      Boolean connected,
      LineageDto lineage) {

    static HistoryItem from(HistoryPage.Entry entry) {
      DeviceSession.MessageApplied event = entry.event();
      var message = event.message();
      return new HistoryItem(entry.sequenceNr(), message.channel().name(), event.appliedAt(),
          Instant.ofEpochMilli(message.deviceTimestampMillis()), message.sequence().orElse(null), event.raeSerial(),
          new TreeMap<>(message.attributes()), message.testState().orElse(null), message.connected().orElse(null),
          LineageDto.from(event.lineage()));
    }
  }

  /** MQTT topic, Kafka position and bridge receive time of a message. */
  record LineageDto(String mqttTopic, int kafkaPartition, long kafkaOffset, Instant receivedAt) {
    static LineageDto from(Lineage lineage) {
      return new LineageDto(lineage.mqttTopic(), lineage.kafkaPartition(), lineage.kafkaOffset(),
          Instant.ofEpochMilli(lineage.receivedAtMillis()));
    }
  }

  static double seconds(Duration duration) {
    return duration.toMillis() / 1000.0;
  }
}
