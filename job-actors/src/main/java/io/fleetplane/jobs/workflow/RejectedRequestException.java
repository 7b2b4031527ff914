package io.fleetplane.jobs.workflow;

/**
 * A request to the workflow services (schedules, signals, subscriptions) that can never succeed as
 * sent: the API answers 400 with {@link #code()} and the offending {@link #field()} (null: the
 * request as a whole). No stack trace: it is an answer, not a fault.
 */
public class RejectedRequestException extends RuntimeException {
  private final String code;
  private final String field;

  public RejectedRequestException(String code, String field, String message) {
    super(message, null, false, false);
    this.code = code;
    this.field = field;
  }

  public String code() {
    return code;
  }

  public String field() {
    return field;
  }
}
