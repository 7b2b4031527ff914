package io.fleetplane.testkit.infra;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.NetworkInterface;
import java.net.SocketException;
import java.util.Optional;

/** Asserts that a server listens on 127.0.0.1 and is not reachable on the machine's other addresses. */
final class LoopbackOnly {

  private LoopbackOnly() {}

  static void assertLoopbackOnly(int port) {
    assertTrue(FreePorts.accepts("127.0.0.1", port, 1000), "nothing listens on 127.0.0.1:" + port);
    // Without a non-loopback interface there is nothing else to be reachable on.
    nonLoopbackAddress().ifPresent(address -> assertFalse(
        FreePorts.accepts(address.getHostAddress(), port, 1000),
        "port " + port + " is reachable on " + address.getHostAddress() + ": it must bind 127.0.0.1 only"));
  }

  private static Optional<InetAddress> nonLoopbackAddress() {
    try {
      return NetworkInterface.networkInterfaces()
          .filter(LoopbackOnly::upAndNotLoopback)
          .flatMap(NetworkInterface::inetAddresses)
          .filter(a -> a instanceof Inet4Address)
          .findFirst();
    } catch (SocketException e) {
      return Optional.empty();
    }
  }

  private static boolean upAndNotLoopback(NetworkInterface nic) {
    try {
      return nic.isUp() && !nic.isLoopback();
    } catch (SocketException e) {
      return false;
    }
  }
}
