package io.fleetplane.registry.readside;

import io.fleetplane.config.ErrorCode;
import io.fleetplane.config.InvalidInputException;

/** A read-side query input (filter, sort, limit, cursor) that is not valid; names the field. */
public final class InvalidQueryException extends InvalidInputException {

  private final String field;

  public InvalidQueryException(ErrorCode errorCode, String field, String message) {
    super(errorCode, message);
    this.field = field;
  }

  /** The request field at fault, as the client spelled it ({@code limit}, {@code attr.esn}). */
  public String field() {
    return field;
  }
}
