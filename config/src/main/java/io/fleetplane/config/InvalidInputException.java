package io.fleetplane.config;

/**
 * Input from outside (a topic, an id, a payload, a request field) that does not have its
 * documented form. Carries the stable {@link ErrorCode} that dead-letter headers, metric tags and
 * HTTP problem documents report, so every edge maps it the same way.
 */
public class InvalidInputException extends IllegalArgumentException {
  private final ErrorCode errorCode;

  public InvalidInputException(ErrorCode errorCode, String message) {
    super(message);
    this.errorCode = errorCode;
  }

  public ErrorCode errorCode() {
    return errorCode;
  }
}
