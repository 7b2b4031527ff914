package io.fleetplane.config;

/**
 * Stable, dotted error codes. They appear in HTTP problem documents, dead-letter headers and
 * metric tags, so clients and dashboards key on them: never rename one.
 */
public enum ErrorCode {
  DEVICE_NOT_FOUND("device.not-found"),
  DEVICE_SESSION_ID_INVALID("device.session-id-invalid"),
  RAE_SERIAL_INVALID("device.rae-serial-invalid"),
  MQTT_TOPIC_UNKNOWN("mqtt.topic-unknown"),
  PAYLOAD_TOO_LARGE("payload.too-large"),
  PAYLOAD_NOT_JSON("payload.not-json"),
  PAYLOAD_INVALID("payload.invalid"),
  REQUEST_INVALID("request.invalid"),
  ROUTE_NOT_FOUND("route.not-found"),
  METHOD_NOT_ALLOWED("request.method-not-allowed"),
  SERVICE_UNAVAILABLE("service.unavailable"),
  TIMEOUT("service.timeout"),
  // Operator API authentication and authorization (http-api, auth package).
  AUTH_TOKEN_MISSING("auth.token-missing"),
  AUTH_TOKEN_INVALID("auth.token-invalid"),
  AUTH_TOKEN_EXPIRED("auth.token-expired"),
  AUTH_SCOPE_MISSING("auth.scope-missing"),
  REQUEST_JSON_MALFORMED("request.json-malformed"),
  REQUEST_UNSUPPORTED_MEDIA_TYPE("request.unsupported-media-type"),
  INTERNAL("internal.error");

  private final String code;

  ErrorCode(String code) {
    this.code = code;
  }

  public String code() {
    return code;
  }

  @Override
  public String toString() {
    return code;
  }
}
