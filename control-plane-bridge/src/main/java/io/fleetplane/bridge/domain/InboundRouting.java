package io.fleetplane.bridge.domain;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import io.fleetplane.config.ErrorCode;
import io.fleetplane.config.ids.DeviceTopic;
import java.io.IOException;

/**
 * Decides where one inbound MQTT message goes: to the device events topic, keyed by its session,
 * or to the dead-letter topic with the reason. Pure and cheap, so it is tested without a broker
 * and runs on the stream's thread without blocking.
 *
 * <p>The bridge checks only what it must to keep garbage out of the device stream: the topic, the
 * size, and that the payload is one well-formed JSON object. Field-level validation belongs to
 * the registry, which owns the device model.
 */
public final class InboundRouting {

  private static final JsonFactory JSON = new JsonFactory();

  private final int maxPayloadBytes;

  public InboundRouting(int maxPayloadBytes) {
    this.maxPayloadBytes = maxPayloadBytes;
  }

  /** Where a message goes. */
  public sealed interface Route {}

  /** A device message: produce to the device events topic with the session key. */
  public record ToDeviceEvents(DeviceTopic topic) implements Route {}

  /** Unusable input: produce to the dead-letter topic, tagged with a stable code. */
  public record ToDeadLetters(ErrorCode reason, String detail) implements Route {}

  public Route route(String topic, byte[] payload) {
    DeviceTopic deviceTopic;
    try {
      deviceTopic = DeviceTopic.parse(topic);
    } catch (DeviceTopic.InvalidTopicException e) {
      return new ToDeadLetters(e.errorCode(), e.getMessage());
    }
    if (payload.length > maxPayloadBytes) {
      return new ToDeadLetters(ErrorCode.PAYLOAD_TOO_LARGE,
          "payload of " + payload.length + " bytes exceeds the limit of " + maxPayloadBytes);
    }
    String notJson = jsonObjectProblem(payload);
    if (notJson != null) {
      return new ToDeadLetters(ErrorCode.PAYLOAD_NOT_JSON, notJson);
    }
    return new ToDeviceEvents(deviceTopic);
  }

  /** Null when the payload is exactly one JSON object, else what is wrong with it. */
  static String jsonObjectProblem(byte[] payload) {
    try (JsonParser parser = JSON.createParser(payload)) {
      if (parser.nextToken() != JsonToken.START_OBJECT) {
        return "payload must be a JSON object";
      }
      parser.skipChildren();
      if (parser.nextToken() != null) {
        return "payload has content after the JSON object";
      }
      return null;
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      return "payload is not valid JSON: " + e.getOriginalMessage();
    } catch (IOException e) {
      return "payload could not be read as JSON: " + e.getMessage();
    }
  }
}
