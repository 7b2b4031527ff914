package io.fleetplane.config.ids;

import io.fleetplane.config.ErrorCode;

/** An id that does not have its documented form; carries the stable error code for clients. */
public final class InvalidIdException extends IllegalArgumentException {
  private final ErrorCode errorCode;

  public InvalidIdException(ErrorCode errorCode, String message) {
    super(message);
    this.errorCode = errorCode;
  }

  public ErrorCode errorCode() {
    return errorCode;
  }
}
