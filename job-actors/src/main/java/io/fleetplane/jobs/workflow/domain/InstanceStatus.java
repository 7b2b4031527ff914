package io.fleetplane.jobs.workflow.domain;

/**
 * A workflow instance's lifecycle. PAUSED: running steps finish, nothing new starts until it is
 * resumed.
 */
public enum InstanceStatus {
  RUNNING, PAUSED, SUCCEEDED, FAILED, CANCELLED;

  public boolean terminal() {
    return this != RUNNING && this != PAUSED;
  }
}
