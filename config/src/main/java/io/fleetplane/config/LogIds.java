package io.fleetplane.config;

/**
 * MDC keys shared by every module, so one id finds every log line about a device session, a job
 * or a workflow across the bridge, the stream and the actors. Logback's pattern prints them.
 */
public final class LogIds {
  public static final String DEVICE_SESSION_ID = "deviceSessionId";
  public static final String RAE_SERIAL = "raeSerial";
  public static final String KAFKA_PARTITION = "kafkaPartition";
  public static final String KAFKA_OFFSET = "kafkaOffset";
  public static final String COMMAND_ID = "commandId";
  public static final String JOB_ID = "jobId";
  public static final String WORKFLOW_INSTANCE_ID = "workflowInstanceId";

  private LogIds() {}
}
