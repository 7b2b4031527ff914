package io.fleetplane.testkit.infra;

/**
 * Thrown when a server the testkit would start cannot bind its port on 127.0.0.1 because
 * another process holds it. Carries the port so callers (local mode) can suggest another one;
 * the message already says what the user can do next.
 */
public final class PortInUseException extends IllegalStateException {

  private final int port;

  public PortInUseException(int port, String message) {
    super(message);
    this.port = port;
  }

  public int port() {
    return port;
  }
}
