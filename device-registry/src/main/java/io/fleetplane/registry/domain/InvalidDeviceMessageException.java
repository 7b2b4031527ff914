package io.fleetplane.registry.domain;

import io.fleetplane.config.ErrorCode;
import io.fleetplane.config.InvalidInputException;

/** A record that cannot become a device message; it is dead-lettered with its code. */
public final class InvalidDeviceMessageException extends InvalidInputException {
  public InvalidDeviceMessageException(ErrorCode errorCode, String message) {
    super(errorCode, message);
  }
}
