package io.fleetplane.testkit.infra;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.util.HashSet;
import java.util.Set;

import org.junit.jupiter.api.Test;

class FreePortsTest {

  @Test
  void handsOutDistinctBindablePorts() throws Exception {
    Set<Integer> ports = new HashSet<>();
    for (int i = 0; i < 20; i++) {
      ports.add(FreePorts.next());
    }
    assertEquals(20, ports.size(), "a port was handed out twice");
    for (int port : ports) {
      assertTrue(FreePorts.isFree(port), "port " + port + " should be bindable");
    }
  }

  @Test
  void aBoundPortIsNotFreeAndAcceptsConnections() throws Exception {
    try (ServerSocket socket = new ServerSocket()) {
      socket.bind(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), FreePorts.next()));
      int port = socket.getLocalPort();
      assertFalse(FreePorts.isFree(port));
      assertTrue(FreePorts.accepts("127.0.0.1", port, 1000));
    }
  }
}
