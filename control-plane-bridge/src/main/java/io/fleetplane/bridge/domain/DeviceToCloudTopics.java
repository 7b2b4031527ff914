package io.fleetplane.bridge.domain;

import io.fleetplane.config.ids.DeviceTopic;
import io.fleetplane.config.ids.DeviceTopic.Channel;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * The MQTT topic filters of the device-to-cloud path: exactly the channels devices publish to
 * the platform ({@code update}, {@code checkpoint}, {@code connection}), never a wildcard over
 * the channel level. Sibling topics such as {@code .../command} (cloud to device) and
 * {@code .../command-reply} belong to the command path and must not reach this one.
 */
public final class DeviceToCloudTopics {

  /**
   * The filter the first bridge version subscribed to. A persistent session keeps subscriptions
   * across restarts, so an upgraded bridge removes it explicitly or it would keep receiving the
   * command topics.
   */
  public static final String LEGACY_FILTER = DeviceTopic.ROOT + "+/device/+/+";

  private DeviceToCloudTopics() {}

  /** {@code fleet/rae/+/device/+/<channel>} for each device-to-cloud channel. */
  public static List<String> filters() {
    return Arrays.stream(Channel.values())
        .map(channel -> DeviceTopic.ROOT + "+/device/+/" + channel.topicLevel())
        .toList();
  }

  /** The filters as subscribed: {@code $share/<group>/...} when instances share the load. */
  public static List<String> filters(Optional<String> sharedGroup) {
    return filters().stream().map(f -> shared(f, sharedGroup)).toList();
  }

  public static String shared(String filter, Optional<String> sharedGroup) {
    return sharedGroup.map(group -> "$share/" + group + "/" + filter).orElse(filter);
  }

  /**
   * A shared-subscription group name must be one non-empty topic level without wildcards
   * (MQTT 5, 4.8.2), or the broker rejects the subscription.
   */
  public static boolean isValidGroup(String group) {
    return !group.isEmpty() && group.chars().noneMatch(c -> c == '/' || c == '+' || c == '#');
  }

  /** The session id level of a topic, for log context only (no validation). */
  public static Optional<String> sessionLevel(String topic) {
    if (topic == null || !topic.startsWith(DeviceTopic.ROOT)) {
      return Optional.empty();
    }
    String[] levels = topic.substring(DeviceTopic.ROOT.length()).split("/", 4);
    return levels.length >= 3 && levels[1].equals("device") && levels[2].length() <= 64
        ? Optional.of(levels[2]) : Optional.empty();
  }
}
