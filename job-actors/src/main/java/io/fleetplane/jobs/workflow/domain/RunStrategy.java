package io.fleetplane.jobs.workflow.domain;

import java.util.Arrays;
import java.util.Locale;
import java.util.Optional;

/**
 * How top-level instances of one workflow share the right to run ({@code runStrategy} in a
 * definition; enforced by {@code WorkflowRunGate}).
 */
public enum RunStrategy {
  /** Up to {@code maxRunningInstances} at once (no limit when absent); the rest queue, first in first out. */
  PARALLEL("parallel"),
  /** One at a time; the rest queue, first in first out (parallel with a limit of 1). */
  SEQUENTIAL("sequential"),
  /** One at a time; a start while one runs or waits is rejected ({@code workflow.run-rejected}). */
  FIRST_ONLY("first-only"),
  /**
   * One at a time; a start while one runs waits for it, and cancels every start queued before it,
   * so the latest start is the one that runs next.
   */
  LAST_ONLY("last-only");

  private final String yamlName;

  RunStrategy(String yamlName) {
    this.yamlName = yamlName;
  }

  public String yamlName() {
    return yamlName;
  }

  public static Optional<RunStrategy> parse(String name) {
    String n = name.toLowerCase(Locale.ROOT).replace("_", "-");
    return Arrays.stream(values()).filter(s -> s.yamlName.equals(n)).findFirst();
  }

  public static String known() {
    return String.join(", ", Arrays.stream(values()).map(RunStrategy::yamlName).toList());
  }
}
