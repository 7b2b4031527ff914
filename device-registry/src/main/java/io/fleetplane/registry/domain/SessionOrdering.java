package io.fleetplane.registry.domain;

import java.util.Optional;

/**
 * Decides whether a message is older than what a session already applied, so a redelivered or
 * reordered record never overwrites newer state.
 *
 * <p>Rule, in order: when both the message and the session carry a device sequence number, the
 * sequence decides (device clocks drift; counters do not). Otherwise the device timestamp decides.
 * On equal timestamps the Kafka position breaks the tie: the same partition at an offset not
 * beyond the last applied one is a redelivery. Equal timestamps from a later offset are applied,
 * because Kafka preserves publish order within a session's partition.
 */
public final class SessionOrdering {

  private SessionOrdering() {}

  /** The position of the last message a session applied. */
  public record Position(long deviceTimestampMillis, Optional<Long> sequence, Lineage lineage) {}

  public static boolean isStale(Position last, DeviceMessage message, Lineage lineage) {
    if (last.sequence().isPresent() && message.sequence().isPresent()) {
      return message.sequence().get() <= last.sequence().get();
    }
    if (message.deviceTimestampMillis() != last.deviceTimestampMillis()) {
      return message.deviceTimestampMillis() < last.deviceTimestampMillis();
    }
    return lineage.kafkaPartition() == last.lineage().kafkaPartition()
        && lineage.kafkaOffset() <= last.lineage().kafkaOffset();
  }
}
