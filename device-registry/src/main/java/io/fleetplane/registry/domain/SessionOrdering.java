package io.fleetplane.registry.domain;

import io.fleetplane.config.ids.DeviceTopic.Channel;
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

  /**
   * A last will that must be applied although {@link #isStale} says it is old. The broker
   * publishes a will when the connection dies, but its payload (and so its {@code ts} and
   * {@code seq}) was fixed when the device connected: it naturally dates from before the
   * session's later updates. It still tells the truth about the connection when
   *
   * <ul>
   *   <li>it comes after everything applied so far in Kafka order (same partition, later offset:
   *       a new record, not a redelivery of an applied one), and
   *   <li>its {@code ts} is not older than the {@code connected:true} that opened the current
   *       connection ({@code connectedSinceMillis}; the protocol has devices send the will's
   *       {@code ts} in that message too), so a will of an earlier connection that turns up late
   *       does not mark a reconnected device as gone.
   * </ul>
   */
  public static boolean isLateWill(Position last, long connectedSinceMillis, DeviceMessage message, Lineage lineage) {
    return message.channel() == Channel.CONNECTION
        && message.connected().isPresent() && !message.connected().get()
        && message.deviceTimestampMillis() >= connectedSinceMillis
        && lineage.kafkaPartition() == last.lineage().kafkaPartition()
        && lineage.kafkaOffset() > last.lineage().kafkaOffset();
  }
}
