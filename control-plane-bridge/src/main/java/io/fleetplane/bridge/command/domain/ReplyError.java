package io.fleetplane.bridge.command.domain;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Objects;

/**
 * Why a command did not succeed: a stable, dotted {@code code} that callers branch on and a
 * human-readable {@code message}. Devices choose their own codes; the bridge's are in
 * {@link BridgeErrorCodes}.
 */
public record ReplyError(String code, String message) {

  static final int MAX_CODE_LENGTH = 128;
  static final int MAX_MESSAGE_LENGTH = 2048;

  public ReplyError {
    Objects.requireNonNull(code, "code");
    if (code.isEmpty() || code.length() > MAX_CODE_LENGTH) {
      throw new IllegalArgumentException("error code must be 1-" + MAX_CODE_LENGTH + " characters");
    }
    message = message == null ? "" : message;
    if (message.length() > MAX_MESSAGE_LENGTH) {
      message = message.substring(0, MAX_MESSAGE_LENGTH) + "...";
    }
  }

  ObjectNode toJson() {
    ObjectNode o = WireJson.MAPPER.createObjectNode();
    o.put("code", code);
    o.put("message", message);
    return o;
  }
}
