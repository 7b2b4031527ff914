package io.fleetplane.jobs.workflow.domain;

/**
 * One reason a definition was rejected.
 *
 * @param code stable dotted code ({@code workflow.cycle-detected}, ...)
 * @param stepId the step it concerns, or null for the workflow as a whole
 * @param line 1-based line in the submitted text, or 0 when unknown
 * @param message what is wrong and how to fix it
 */
public record DefinitionError(String code, String stepId, int line, String message) {

  public static final String INVALID = "workflow.invalid-definition";
  public static final String CYCLE = "workflow.cycle-detected";
  public static final String UNKNOWN_REFERENCE = "workflow.unknown-reference";
  public static final String UNKNOWN_STEP_TYPE = "workflow.unknown-step-type";
  public static final String BAD_EXPRESSION = "workflow.invalid-expression";
  public static final String TOO_MANY_STEPS = "workflow.too-many-steps";
  public static final String DUPLICATE_STEP_ID = "workflow.duplicate-step-id";

  @Override
  public String toString() {
    return code + (stepId == null ? "" : " step '" + stepId + "'") + (line > 0 ? " (line " + line + ")" : "")
        + ": " + message;
  }
}
