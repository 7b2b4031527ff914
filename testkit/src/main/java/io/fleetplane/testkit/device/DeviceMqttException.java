package io.fleetplane.testkit.device;

/**
 * An MQTT operation of a simulated device failed: refused by the broker (a reason code from the
 * broker, 0x80-0xFF, e.g. 0x87 "not authorized" or 0x86 "bad user name or password"), or not
 * possible on the client side (Paho's own codes, larger than 0xFF).
 */
public final class DeviceMqttException extends RuntimeException {

  private final int reasonCode;

  public DeviceMqttException(String message, int reasonCode, Throwable cause) {
    super(message + " (reason code " + reasonCode + ")", cause);
    this.reasonCode = reasonCode;
  }

  public int reasonCode() {
    return reasonCode;
  }

  /** True when the broker itself said no, rather than the client failing to ask. */
  public boolean refusedByBroker() {
    return reasonCode >= 0x80 && reasonCode <= 0xFF;
  }
}
