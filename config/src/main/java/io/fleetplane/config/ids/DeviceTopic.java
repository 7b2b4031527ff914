package io.fleetplane.config.ids;

import io.fleetplane.config.ErrorCode;
import io.fleetplane.config.InvalidInputException;
import java.util.Locale;

/**
 * A device-facing MQTT topic, {@code fleet/rae/{raeSerial}/device/{deviceSessionId}/{channel}},
 * parsed. The public contract is in docs/protocol.md.
 *
 * <p>{@link #sessionKey()} is the Kafka record key: the topic up to and including the session
 * id. Every channel of one session shares it, so all of a session's messages land on one
 * partition in publish order.
 */
public record DeviceTopic(RaeSerial raeSerial, DeviceSessionId deviceSessionId, Channel channel) {

  public static final String ROOT = "fleet/rae/";

  /** What a message on the topic means to the platform. */
  public enum Channel {
    /** Partial attributes and/or state; merged into the session. */
    UPDATE,
    /** A full snapshot that replaces the session's record. */
    CHECKPOINT,
    /** Connected / disconnected; devices also set it as their MQTT last will. */
    CONNECTION;

    public String topicLevel() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  public String sessionKey() {
    return sessionKey(raeSerial, deviceSessionId);
  }

  public static String sessionKey(RaeSerial raeSerial, DeviceSessionId deviceSessionId) {
    return ROOT + raeSerial.value() + "/device/" + deviceSessionId.value();
  }

  public String topic() {
    return sessionKey() + "/" + channel.topicLevel();
  }

  /**
   * Parses a topic, explaining exactly what is wrong when it is not a device topic.
   *
   * @throws InvalidTopicException with a stable error code and a message naming the bad level
   */
  public static DeviceTopic parse(String topic) {
    if (topic == null || !topic.startsWith(ROOT)) {
      throw unknown(topic, "must start with '" + ROOT + "'");
    }
    String[] levels = topic.substring(ROOT.length()).split("/", -1);
    if (levels.length != 4 || !"device".equals(levels[1])) {
      throw unknown(topic, "expected fleet/rae/{raeSerial}/device/{deviceSessionId}/{channel}");
    }
    RaeSerial rae = RaeSerial.parse(levels[0]).orElseThrow(() -> new InvalidTopicException(
        ErrorCode.RAE_SERIAL_INVALID,
        "topic '" + DeviceSessionId.printable(topic) + "': RAE serial level is not valid"));
    DeviceSessionId session = DeviceSessionId.parse(levels[2]).orElseThrow(() ->
        new InvalidTopicException(
            ErrorCode.DEVICE_SESSION_ID_INVALID,
            "topic '" + DeviceSessionId.printable(topic)
                + "': device session id level must be a lower-case UUID"));
    Channel channel = switch (levels[3]) {
      case "update" -> Channel.UPDATE;
      case "checkpoint" -> Channel.CHECKPOINT;
      case "connection" -> Channel.CONNECTION;
      default -> throw unknown(topic, "channel must be update, checkpoint or connection");
    };
    return new DeviceTopic(rae, session, channel);
  }

  private static InvalidTopicException unknown(String topic, String why) {
    return new InvalidTopicException(
        ErrorCode.MQTT_TOPIC_UNKNOWN,
        "topic '" + DeviceSessionId.printable(topic) + "' is not a device topic: " + why);
  }

  /** A topic that is not a valid device topic. */
  public static final class InvalidTopicException extends InvalidInputException {
    public InvalidTopicException(ErrorCode errorCode, String message) {
      super(errorCode, message);
    }
  }
}
