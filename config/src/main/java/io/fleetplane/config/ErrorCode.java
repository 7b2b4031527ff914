package io.fleetplane.config;

/**
 * Stable, dotted error codes. They appear in HTTP problem documents, dead-letter headers and
 * metric tags, so clients and dashboards key on them: never rename one.
 */
public enum ErrorCode {
  DEVICE_NOT_FOUND("device.not-found"),
  DEVICE_SESSION_ID_INVALID("device.session-id-invalid"),
  RAE_SERIAL_INVALID("device.rae-serial-invalid"),
  // Distribution jobs (job-actors, issue 7).
  DOCUMENT_NOT_PDF("document.not-pdf"),
  DOCUMENT_ENCRYPTED("document.encrypted"),
  DOCUMENT_EMPTY("document.empty"),
  DOCUMENT_NOT_FOUND("document.not-found"),
  DOCUMENT_FINGERPRINT_NOT_FOUND("document.fingerprint-not-found"),
  DISTRIBUTION_NOT_FOUND("distribution.not-found"),
  DISTRIBUTION_ID_INVALID("distribution.id-invalid"),
  DISTRIBUTION_FILES_EMPTY("distribution.files-empty"),
  DISTRIBUTION_RECIPIENTS_EMPTY("distribution.recipients-empty"),
  DISTRIBUTION_RECIPIENT_INVALID("distribution.recipient-invalid"),
  DISTRIBUTION_RECIPIENT_DUPLICATE("distribution.recipient-duplicate"),
  DISTRIBUTION_RECIPIENT_NOT_FOUND("distribution.recipient-not-found"),
  DISTRIBUTION_TOO_MANY_ITEMS("distribution.too-many-items"),
  DISTRIBUTION_TEMPLATE_INVALID("distribution.template-invalid"),
  DISTRIBUTION_OPTIONS_INVALID("distribution.options-invalid"),
  DISTRIBUTION_NOT_CANCELLABLE("distribution.not-cancellable"),
  DISTRIBUTION_PRIORITY_INVALID("distribution.priority-invalid"),
  DISTRIBUTION_PUSH_TARGET_INVALID("distribution.push-target-invalid"),
  LINK_NOT_FOUND("link.not-found"),
  LINK_REVOKED("link.revoked"),
  LINK_EXPIRED("link.expired"),
  // Commands to devices over the operator API (http-api, issue 5).
  COMMAND_NOT_FOUND("command.not-found"),
  COMMAND_ID_INVALID("command.id-invalid"),
  COMMAND_TIMED_OUT("command.timed-out"),
  COMMAND_TOO_MANY_WAITING("command.too-many-waiting"),
  COMMAND_BRIDGE_BUSY("command.bridge-busy"),
  COMMAND_NOT_SENT("command.not-sent"),
  COMMAND_REQUEST_ID_CONFLICT("command.request-id-conflict"),
  MQTT_TOPIC_UNKNOWN("mqtt.topic-unknown"),
  PAYLOAD_TOO_LARGE("payload.too-large"),
  PAYLOAD_NOT_JSON("payload.not-json"),
  PAYLOAD_INVALID("payload.invalid"),
  REQUEST_INVALID("request.invalid"),
  ROUTE_NOT_FOUND("route.not-found"),
  METHOD_NOT_ALLOWED("request.method-not-allowed"),
  SERVICE_UNAVAILABLE("service.unavailable"),
  TIMEOUT("service.timeout"),
  // One entity (a device session) already has as many requests waiting as it may: 429, retry later.
  SERVICE_ENTITY_BUSY("service.entity-busy"),
  // Path ids of workflow routes that no stored workflow or instance could have (issue 5 hardening).
  WORKFLOW_ID_INVALID("workflow.id-invalid"),
  WORKFLOW_INSTANCE_ID_INVALID("workflow.instance-id-invalid"),
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
