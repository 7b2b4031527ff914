package io.fleetplane.testkit.infra;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Owns the choice of free TCP ports on 127.0.0.1 for everything the testkit and local mode start.
 *
 * <p>The machine is shared with other processes, so fixed ports collide (STACK.md trap 10). A
 * port is found by letting the kernel pick one for a throw-away socket. The port is released
 * before the caller binds it, so another process can in principle take it in between; to at
 * least keep two callers in this JVM apart, a port is never handed out twice per JVM.
 */
public final class FreePorts {

  /** Everything Fleetplane starts binds here, never to a wildcard address. */
  public static final String LOOPBACK = "127.0.0.1";

  private static final int MAX_ATTEMPTS = 50;
  private static final Set<Integer> HANDED_OUT = ConcurrentHashMap.newKeySet();

  private FreePorts() {}

  /** A TCP port on 127.0.0.1 that was free a moment ago and was not handed out before in this JVM. */
  public static int next() {
    for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      int port;
      try (ServerSocket socket = new ServerSocket()) {
        socket.bind(new InetSocketAddress(loopback(), 0));
        port = socket.getLocalPort();
      } catch (IOException e) {
        throw new UncheckedIOException("Could not bind any port on " + LOOPBACK
            + ": is the loopback interface up?", e);
      }
      if (HANDED_OUT.add(port)) {
        return port;
      }
    }
    throw new IllegalStateException("No new free port on " + LOOPBACK + " after " + MAX_ATTEMPTS
        + " attempts: the ephemeral port range looks exhausted (check `ss -tan | wc -l`).");
  }

  /** True when a server socket can bind {@code 127.0.0.1:port} right now (same flags servers use). */
  public static boolean isFree(int port) {
    try (ServerSocket socket = new ServerSocket()) {
      // SO_REUSEADDR as the brokers set it, so lingering TIME_WAIT connections do not count as taken.
      socket.setReuseAddress(true);
      socket.bind(new InetSocketAddress(loopback(), port));
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  /** True when something accepts a TCP connection on {@code host:port} within {@code timeoutMillis}. */
  public static boolean accepts(String host, int port, int timeoutMillis) {
    try (Socket socket = new Socket()) {
      socket.connect(new InetSocketAddress(host, port), timeoutMillis);
      return true;
    } catch (IOException e) {
      return false;
    }
  }

  static InetAddress loopback() {
    try {
      return InetAddress.getByName(LOOPBACK);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
