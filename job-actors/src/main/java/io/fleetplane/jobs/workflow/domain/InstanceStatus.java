package io.fleetplane.jobs.workflow.domain;

/** A workflow instance's lifecycle. */
public enum InstanceStatus {
  RUNNING, SUCCEEDED, FAILED, CANCELLED;

  public boolean terminal() {
    return this != RUNNING;
  }
}
