package io.fleetplane.bridge.command.domain;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;

/**
 * The one JSON mapper of the command wire formats. Duplicate keys are rejected: two different
 * readers of {@code {"status":"failed","status":"succeeded"}} could otherwise disagree.
 */
final class WireJson {

  static final ObjectMapper MAPPER = new ObjectMapper()
      .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);

  private WireJson() {}

  /** The payload as one JSON object, or a {@link WireException} saying what is wrong. */
  static ObjectNode object(byte[] payload) {
    JsonNode node;
    try {
      node = MAPPER.readTree(payload);
    } catch (JsonProcessingException e) {
      throw new WireException(true, "not valid JSON: " + e.getOriginalMessage());
    } catch (IOException e) {
      throw new WireException(true, "could not be read as JSON: " + e.getMessage());
    }
    if (node == null || node.isMissingNode()) {
      throw new WireException(true, "empty payload, expected a JSON object");
    }
    if (!(node instanceof ObjectNode object)) {
      throw new WireException(true, "expected a JSON object, got " + node.getNodeType());
    }
    return object;
  }

  static byte[] bytes(JsonNode node) {
    try {
      return MAPPER.writeValueAsBytes(node);
    } catch (JsonProcessingException e) {
      throw new UncheckedIOException(e);
    }
  }

  static String requiredText(ObjectNode o, String field) {
    JsonNode v = o.get(field);
    if (v == null || v.isNull()) {
      throw new WireException(false, "'" + field + "' is missing");
    }
    if (!v.isTextual()) {
      throw new WireException(false, "'" + field + "' must be a string, got " + v.getNodeType());
    }
    return v.asText();
  }

  static String optionalText(ObjectNode o, String field) {
    JsonNode v = o.get(field);
    if (v == null || v.isNull()) {
      return null;
    }
    if (!v.isTextual()) {
      throw new WireException(false, "'" + field + "' must be a string, got " + v.getNodeType());
    }
    return v.asText();
  }

  static long requiredLong(ObjectNode o, String field) {
    JsonNode v = o.get(field);
    if (v == null || v.isNull()) {
      throw new WireException(false, "'" + field + "' is missing");
    }
    if (!v.isIntegralNumber() || !v.canConvertToLong()) {
      throw new WireException(false, "'" + field + "' must be an integer, got " + v);
    }
    return v.asLong();
  }

  /** The value, or {@code null} when absent. */
  static Long optionalLong(ObjectNode o, String field) {
    JsonNode v = o.get(field);
    if (v == null || v.isNull()) {
      return null;
    }
    if (!v.isIntegralNumber() || !v.canConvertToLong()) {
      throw new WireException(false, "'" + field + "' must be an integer, got " + v);
    }
    return v.asLong();
  }

  /** Checks {@code type} and {@code version}: only version 1 of each format exists. */
  static void requireTypeAndVersion(ObjectNode o, String type, int version) {
    String actualType = requiredText(o, "type");
    if (!type.equals(actualType)) {
      throw new WireException(false, "'type' must be '" + type + "', got '"
          + Printable.of(actualType) + "'");
    }
    long actualVersion = requiredLong(o, "version");
    if (actualVersion != version) {
      throw new WireException(false, "unsupported " + type + " version " + actualVersion
          + " (this bridge reads version " + version + ")");
    }
  }

  /** A payload that is not the documented format; {@code notJson} separates syntax from shape. */
  static final class WireException extends RuntimeException {
    final boolean notJson;

    WireException(boolean notJson, String message) {
      super(message, null, false, false);
      this.notJson = notJson;
    }
  }
}
