package io.fleetplane.bridge.support;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A bridge running as its own JVM ({@code BridgeMain}) on the test classpath, started with
 * {@link ProcessBuilder} so a test can kill it for real ({@code destroyForcibly()} is SIGKILL)
 * or stop it with SIGTERM. Only the process this object started is ever signalled.
 */
public final class ChildBridge implements AutoCloseable {

  private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

  private final Process process;
  private final int httpPort;
  private final Path log;

  private ChildBridge(Process process, int httpPort, Path log) {
    this.process = process;
    this.httpPort = httpPort;
    this.log = log;
  }

  /**
   * Starts {@code BridgeMain} with these {@code -D} settings and instance id; its output goes to
   * {@code log}.
   */
  public static ChildBridge start(Map<String, String> systemProperties, String instanceId, int httpPort, Path log) {
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    command.add("-Xmx256m");
    command.add("-XX:+UseSerialGC");
    command.add("-XX:TieredStopAtLevel=1"); // starts faster on a busy two-core machine
    command.add("-cp");
    command.add(System.getProperty("java.class.path"));
    systemProperties.forEach((k, v) -> command.add("-D" + k + "=" + v));
    command.add("-Dfleetplane.bridge.http.port=" + httpPort);
    command.add("-Dfleetplane.bridge.instance-id=" + instanceId);
    command.add("io.fleetplane.bridge.BridgeMain");
    try {
      Process process = new ProcessBuilder(command)
          .redirectErrorStream(true)
          .redirectOutput(ProcessBuilder.Redirect.to(log.toFile()))
          .start();
      return new ChildBridge(process, httpPort, log);
    } catch (IOException e) {
      throw new UncheckedIOException("could not start BridgeMain: " + command, e);
    }
  }

  public long pid() {
    return process.pid();
  }

  public Path log() {
    return log;
  }

  public boolean isAlive() {
    return process.isAlive();
  }

  /** The HTTP status and body of {@code GET path}, or status -1 when nothing answers. */
  public HttpResponse<String> get(String path) {
    try {
      return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + httpPort + path))
          .timeout(Duration.ofSeconds(5)).GET().build(), HttpResponse.BodyHandlers.ofString());
    } catch (IOException e) {
      return null;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return null;
    }
  }

  public boolean healthy() {
    HttpResponse<String> response = get("/health");
    return response != null && response.statusCode() == 200;
  }

  /** SIGKILL: no shutdown hook, no drain, no DISCONNECT. */
  public void kill() throws InterruptedException {
    process.destroyForcibly().waitFor(20, TimeUnit.SECONDS);
  }

  /** SIGTERM, then waits for the exit code (143 after a clean shutdown-hook run). */
  public int terminate(Duration timeout) throws InterruptedException {
    process.destroy();
    if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
      throw new IllegalStateException("bridge process " + pid() + " did not exit within " + timeout
          + " after SIGTERM; see " + log);
    }
    return process.exitValue();
  }

  @Override
  public void close() throws InterruptedException {
    if (process.isAlive()) {
      kill();
    }
  }
}
