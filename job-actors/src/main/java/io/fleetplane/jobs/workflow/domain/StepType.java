package io.fleetplane.jobs.workflow.domain;

import java.util.Arrays;
import java.util.Optional;

/** The step types this engine runs. The YAML name is the lower-case, hyphenated form. */
public enum StepType {
  NOOP("noop"),
  WAIT("wait"),
  HTTP("http"),
  FOREACH("foreach"),
  SUBWORKFLOW("subworkflow"),
  /** Publishes a signal through {@code WorkflowSignals}; subscribed workflows start. */
  SIGNAL("signal"),
  /** Starts a distribution job and waits for it to finish. */
  DISTRIBUTION("distribution"),
  /** Sends a command to a device session through the control plane and waits for its reply. */
  DEVICE_COMMAND("device-command");

  private final String yamlName;

  StepType(String yamlName) {
    this.yamlName = yamlName;
  }

  public String yamlName() {
    return yamlName;
  }

  /** Accepts Maestro's spelling too ({@code NoOp}, {@code ForEach}). */
  /** The YAML names, for error messages. */
  public static String known() {
    return String.join(", ", Arrays.stream(values()).map(StepType::yamlName).toList());
  }

  public static Optional<StepType> parse(String name) {
    String n = name.toLowerCase(java.util.Locale.ROOT).replace("_", "").replace("-", "");
    return Arrays.stream(values()).filter(t -> t.yamlName.replace("-", "").equals(n)).findFirst();
  }
}
