package io.fleetplane.registry.domain;

import io.fleetplane.config.ErrorCode;

/** A record that cannot become a device message; it is dead-lettered with this code. */
public final class InvalidDeviceMessageException extends RuntimeException {
  private final ErrorCode errorCode;

  public InvalidDeviceMessageException(ErrorCode errorCode, String message) {
    super(message);
    this.errorCode = errorCode;
  }

  public ErrorCode errorCode() {
    return errorCode;
  }
}
