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
