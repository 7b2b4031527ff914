package io.fleetplane.bridge.command;

import io.fleetplane.config.LogIds;
import org.slf4j.MDC;

/**
 * Puts a command's ids into the MDC for the log lines inside a try-with-resources block. The
 * bridge hops threads (Paho callback, stream, scheduler), so ids are set around each log call
 * rather than once per thread.
 */
final class LogContext implements AutoCloseable {

  /** Not in {@code LogIds} yet; it belongs there once the config module takes it. */
  static final String COMMAND_ID = io.fleetplane.config.LogIds.COMMAND_ID;

  private LogContext() {}

  static LogContext of(String raeSerial, String deviceSessionId, String commandId) {
    put(LogIds.RAE_SERIAL, raeSerial);
    put(LogIds.DEVICE_SESSION_ID, deviceSessionId);
    put(COMMAND_ID, commandId);
    return new LogContext();
  }

  private static void put(String key, String value) {
    if (value != null) {
      MDC.put(key, value);
    }
  }

  @Override
  public void close() {
    MDC.remove(LogIds.RAE_SERIAL);
    MDC.remove(LogIds.DEVICE_SESSION_ID);
    MDC.remove(COMMAND_ID);
  }
}
