package io.fleetplane.bridge.command.domain;

import io.fleetplane.config.ids.DeviceSessionId;
import io.fleetplane.config.ids.DeviceTopic;
import io.fleetplane.config.ids.RaeSerial;
import java.util.Optional;

/**
 * The two MQTT topics of the command channel of one device session (docs/protocol.md section 8):
 * <ul>
 *   <li>{@code fleet/rae/{raeSerial}/device/{deviceSessionId}/command}: the bridge publishes,
 *       the device subscribes;
 *   <li>{@code fleet/rae/{raeSerial}/device/{deviceSessionId}/command-reply}: the device
 *       publishes, the bridge subscribes.
 * </ul>
 * They share the session prefix with the device-to-cloud channels ({@link DeviceTopic}), so one
 * ACL pattern per RAE covers them all.
 */
public final class CommandTopics {

  public static final String COMMAND_LEVEL = "command";
  public static final String REPLY_LEVEL = "command-reply";

  private CommandTopics() {}

  /** The session whose command channel a topic belongs to. */
  public record Session(RaeSerial raeSerial, DeviceSessionId deviceSessionId) {
    public String key() {
      return DeviceTopic.sessionKey(raeSerial, deviceSessionId);
    }
  }

  public static String commandTopic(RaeSerial rae, DeviceSessionId session) {
    return DeviceTopic.sessionKey(rae, session) + "/" + COMMAND_LEVEL;
  }

  public static String replyTopic(RaeSerial rae, DeviceSessionId session) {
    return DeviceTopic.sessionKey(rae, session) + "/" + REPLY_LEVEL;
  }

  /** What the bridge subscribes to: every session's reply topic. */
  public static String allRepliesFilter() {
    return DeviceTopic.ROOT + "+/device/+/" + REPLY_LEVEL;
  }

  /** The session of a reply topic, or empty when the topic is not exactly a reply topic. */
  public static Optional<Session> parseReplyTopic(String topic) {
    return parse(topic, REPLY_LEVEL);
  }

  /** The session of a command topic, or empty when the topic is not exactly a command topic. */
  public static Optional<Session> parseCommandTopic(String topic) {
    return parse(topic, COMMAND_LEVEL);
  }

  /** The session of a Kafka key {@code fleet/rae/{raeSerial}/device/{deviceSessionId}}. */
  public static Optional<Session> parseSessionKey(String key) {
    if (key == null || !key.startsWith(DeviceTopic.ROOT)) {
      return Optional.empty();
    }
    String[] levels = key.substring(DeviceTopic.ROOT.length()).split("/", -1);
    if (levels.length != 3 || !"device".equals(levels[1])) {
      return Optional.empty();
    }
    return session(levels[0], levels[2]);
  }

  private static Optional<Session> parse(String topic, String lastLevel) {
    if (topic == null || !topic.startsWith(DeviceTopic.ROOT)) {
      return Optional.empty();
    }
    String[] levels = topic.substring(DeviceTopic.ROOT.length()).split("/", -1);
    if (levels.length != 4 || !"device".equals(levels[1]) || !lastLevel.equals(levels[3])) {
      return Optional.empty();
    }
    return session(levels[0], levels[2]);
  }

  private static Optional<Session> session(String rae, String session) {
    Optional<RaeSerial> raeSerial = RaeSerial.parse(rae);
    Optional<DeviceSessionId> sessionId = DeviceSessionId.parse(session);
    return raeSerial.isPresent() && sessionId.isPresent()
        ? Optional.of(new Session(raeSerial.get(), sessionId.get())) : Optional.empty();
  }
}
