package io.fleetplane.jobs.workflow.domain;

/** A step's lifecycle. Every change is journaled with its time, attempt and reason. */
public enum StepStatus {
  CREATED, RUNNING, SUCCEEDED, FAILED, RETRYING, SKIPPED, CANCELLED, TIMED_OUT;

  /** The step will not change again (unless the instance is restarted from failed steps). */
  public boolean terminal() {
    return this == SUCCEEDED || this == FAILED || this == SKIPPED || this == CANCELLED || this == TIMED_OUT;
  }

  /** Terminal and lets downstream steps run (skipped propagates: see {@link DagScheduler}). */
  public boolean done() {
    return this == SUCCEEDED || this == SKIPPED;
  }
}
