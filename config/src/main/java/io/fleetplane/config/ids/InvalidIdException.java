package io.fleetplane.config.ids;

import io.fleetplane.config.ErrorCode;
import io.fleetplane.config.InvalidInputException;

/** An id that does not have its documented form. */
public final class InvalidIdException extends InvalidInputException {
  public InvalidIdException(ErrorCode errorCode, String message) {
    super(errorCode, message);
  }
}
