package io.fleetplane.registry.domain;

import com.fasterxml.jackson.databind.JsonNode;
import io.fleetplane.config.CborSerializable;
import io.fleetplane.config.ids.DeviceTopic.Channel;
import java.util.Map;
import java.util.Optional;

/**
 * A device message after validation, independent of its wire form (docs/protocol.md).
 *
 * @param channel update (merge), checkpoint (replace) or connection
 * @param deviceTimestampMillis the device's {@code ts}, epoch milliseconds
 * @param sequence the device's per-session {@code seq}, when it sends one (preferred for ordering)
 * @param attributes reported attributes, values as the device sent them
 * @param testState the device's test state ({@code available}, {@code in-test}, ...), if reported
 * @param connected for connection messages: whether the device says it is connected
 */
public record DeviceMessage(
    Channel channel,
    long deviceTimestampMillis,
    Optional<Long> sequence,
    Map<String, JsonNode> attributes,
    Optional<String> testState,
    Optional<Boolean> connected) implements CborSerializable {

  public DeviceMessage {
    attributes = Map.copyOf(attributes);
  }
}
