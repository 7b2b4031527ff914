package io.fleetplane.jobs.workflow.domain;

import java.util.List;

/** A definition failed validation; carries every error found, first one first. */
public final class InvalidDefinitionException extends RuntimeException {
  private final List<DefinitionError> errors;

  public InvalidDefinitionException(List<DefinitionError> errors) {
    super(errors.get(0).toString() + (errors.size() > 1 ? " (and " + (errors.size() - 1) + " more)" : ""),
        null, false, false);
    this.errors = List.copyOf(errors);
  }

  public List<DefinitionError> errors() {
    return errors;
  }

  /** The code of the first error: the one an HTTP problem document reports. */
  public String code() {
    return errors.get(0).code();
  }
}
