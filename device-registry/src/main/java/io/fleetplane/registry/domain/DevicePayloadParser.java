package io.fleetplane.registry.domain;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fleetplane.config.ErrorCode;
import io.fleetplane.config.ids.DeviceTopic.Channel;
import java.io.IOException;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * Turns a device payload (versioned JSON, docs/protocol.md) into a {@link DeviceMessage}, or says
 * precisely which field is wrong. Plain code: the ingest stream calls it, tests call it directly.
 *
 * <p>Accepted: {@code {"version": 1, "ts": <epoch ms>, "seq": <long>?, "attributes": {...}?,
 * "state": "<test state>"?, "connected": <bool>?}}. A missing version means 1. Unknown top-level
 * fields are ignored so devices can add fields before the platform reads them.
 */
public final class DevicePayloadParser {

  /** Payload versions this registry understands. */
  public static final int MAX_SUPPORTED_VERSION = 1;
  /** Attribute names are stored as column values and used in filters. */
  private static final int MAX_ATTRIBUTE_NAME_LENGTH = 128;
  /** Test states are a short vocabulary (available, in-test, ...) stored in a 64-character column. */
  public static final int MAX_TEST_STATE_LENGTH = 64;

  private final ObjectMapper mapper;

  public DevicePayloadParser(ObjectMapper mapper) {
    this.mapper = mapper;
  }

  public DeviceMessage parse(Channel channel, byte[] payload) {
    JsonNode root;
    try {
      root = mapper.readTree(payload);
    } catch (JsonProcessingException e) {
      throw invalid(ErrorCode.PAYLOAD_NOT_JSON, "payload is not valid JSON: " + e.getOriginalMessage());
    } catch (IOException e) {
      throw invalid(ErrorCode.PAYLOAD_NOT_JSON, "payload could not be read: " + e.getMessage());
    }
    if (root == null || !root.isObject()) {
      throw invalid(ErrorCode.PAYLOAD_NOT_JSON, "payload must be a JSON object");
    }
    int version = root.has("version") ? requireInt(root.get("version"), "version") : 1;
    if (version < 1 || version > MAX_SUPPORTED_VERSION) {
      throw invalid(ErrorCode.PAYLOAD_INVALID,
          "version " + version + " is not supported (1.." + MAX_SUPPORTED_VERSION + ")");
    }
    JsonNode ts = root.get("ts");
    if (ts == null || !ts.canConvertToLong() || !ts.isIntegralNumber() || ts.asLong() < 0) {
      throw invalid(ErrorCode.PAYLOAD_INVALID, "field 'ts' is required: epoch milliseconds as a non-negative integer");
    }
    Optional<Long> sequence = Optional.empty();
    if (root.hasNonNull("seq")) {
      JsonNode seq = root.get("seq");
      if (!seq.isIntegralNumber() || !seq.canConvertToLong() || seq.asLong() < 0) {
        throw invalid(ErrorCode.PAYLOAD_INVALID, "field 'seq' must be a non-negative integer");
      }
      sequence = Optional.of(seq.asLong());
    }
    Map<String, JsonNode> attributes = new LinkedHashMap<>();
    if (root.hasNonNull("attributes")) {
      JsonNode attrs = root.get("attributes");
      if (!attrs.isObject()) {
        throw invalid(ErrorCode.PAYLOAD_INVALID, "field 'attributes' must be a JSON object");
      }
      for (Iterator<Map.Entry<String, JsonNode>> it = attrs.fields(); it.hasNext(); ) {
        Map.Entry<String, JsonNode> field = it.next();
        String name = field.getKey();
        if (name.isEmpty() || name.length() > MAX_ATTRIBUTE_NAME_LENGTH) {
          throw invalid(ErrorCode.PAYLOAD_INVALID,
              "attribute names must be 1-" + MAX_ATTRIBUTE_NAME_LENGTH + " characters");
        }
        attributes.put(name, field.getValue());
      }
    }
    Optional<String> state = Optional.empty();
    if (root.hasNonNull("state")) {
      if (!root.get("state").isTextual() || root.get("state").asText().isBlank()
          || root.get("state").asText().length() > MAX_TEST_STATE_LENGTH) {
        throw invalid(ErrorCode.PAYLOAD_INVALID,
            "field 'state' must be a non-empty string of at most " + MAX_TEST_STATE_LENGTH + " characters");
      }
      state = Optional.of(root.get("state").asText());
    }
    Optional<Boolean> connected = Optional.empty();
    if (root.hasNonNull("connected")) {
      if (!root.get("connected").isBoolean()) {
        throw invalid(ErrorCode.PAYLOAD_INVALID, "field 'connected' must be true or false");
      }
      connected = Optional.of(root.get("connected").asBoolean());
    }
    if (channel == Channel.CONNECTION && connected.isEmpty()) {
      throw invalid(ErrorCode.PAYLOAD_INVALID, "connection messages need field 'connected' (true or false)");
    }
    return new DeviceMessage(channel, ts.asLong(), sequence, attributes, state, connected);
  }

  private static int requireInt(JsonNode node, String field) {
    if (!node.isInt()) {
      throw invalid(ErrorCode.PAYLOAD_INVALID, "field '" + field + "' must be an integer");
    }
    return node.asInt();
  }

  private static InvalidDeviceMessageException invalid(ErrorCode code, String message) {
    return new InvalidDeviceMessageException(code, message);
  }
}
