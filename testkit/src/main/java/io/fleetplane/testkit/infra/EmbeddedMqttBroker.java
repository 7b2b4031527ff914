package io.fleetplane.testkit.infra;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;

import com.hivemq.configuration.service.InternalConfigurations;
import com.hivemq.embedded.EmbeddedHiveMQ;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Owns one HiveMQ Community Edition broker running in this JVM: a real MQTT 3.1.1 and 5 broker
 * (shared subscriptions included) listening on 127.0.0.1 only.
 *
 * <p>Why our own config: HiveMQ's built-in config binds 0.0.0.0 and sends anonymous usage
 * statistics, so every start writes {@code config.xml} into a folder this class creates. HiveMQ
 * is also slow to stop (~4 s) and heavy (RocksDB), so tests share one broker per JVM through
 * {@link #shared()}; local mode starts its own with {@link #start(int, Path)}.
 *
 * <p>HiveMQ's own logging bootstrap is switched off: it would otherwise reconfigure logback for
 * the whole JVM.
 */
public final class EmbeddedMqttBroker implements AutoCloseable {

  /** Where HiveMQ keeps sessions, queued and retained messages. */
  public enum Persistence {
    /** RocksDB files in the data folder: sessions and retained messages survive a restart. */
    FILE,
    /** Heap only: faster and lighter, everything is lost on stop. */
    IN_MEMORY
  }

  private static final Logger log = LoggerFactory.getLogger(EmbeddedMqttBroker.class);
  /** Queued messages the broker hands one client at once, unless its Receive Maximum is lower. */
  static final int MAX_INFLIGHT_WINDOW = 10_000;
  private static EmbeddedMqttBroker shared; // guarded by EmbeddedMqttBroker.class

  private final int port;
  private final Path dataDir;
  private final EmbeddedHiveMQ hiveMq;
  private volatile boolean sharedInstance;
  private boolean stopped; // guarded by this

  private EmbeddedMqttBroker(int port, Path dataDir, EmbeddedHiveMQ hiveMq) {
    this.port = port;
    this.dataDir = dataDir;
    this.hiveMq = hiveMq;
  }

  /**
   * Starts a broker on {@code 127.0.0.1:port} (0 picks a free port) that keeps its state in
   * files under {@code dataDir}, so local mode finds sessions again after a restart.
   *
   * @throws PortInUseException if the port is taken; the message tells the user what to do
   */
  public static EmbeddedMqttBroker start(int port, Path dataDir) {
    return start(port, dataDir, Persistence.FILE);
  }

  /** As {@link #start(int, Path)}, choosing where HiveMQ keeps its state. */
  public static EmbeddedMqttBroker start(int port, Path dataDir, Persistence persistence) {
    if (port < 0 || port > 65535) {
      throw new IllegalArgumentException("MQTT port must be 0 (pick a free one) or 1-65535, was " + port);
    }
    int bindPort = port == 0 ? FreePorts.next() : port;
    if (!FreePorts.isFree(bindPort)) {
      throw portInUse(bindPort);
    }
    Path root = dataDir.toAbsolutePath();
    Path configDir = root.resolve("conf");
    Path data = root.resolve("data");
    Path extensions = root.resolve("extensions");
    try {
      Files.createDirectories(configDir);
      Files.createDirectories(data);
      Files.createDirectories(extensions);
      // Rewritten on every start: the port may differ, and a stale file must never bind 0.0.0.0.
      Files.writeString(configDir.resolve("config.xml"), configXml(bindPort, persistence),
          StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot prepare the MQTT broker folders under " + root
          + ": choose a writable directory.", e);
    }
    long t0 = System.nanoTime();
    // HiveMQ CE hands a client its queued messages in batches and polls the next batch only once
    // the client has acknowledged all of the last one; a batch is at most 50 messages (an internal
    // constant, not a config.xml setting) whatever Receive Maximum the client asked for. The bridge
    // acknowledges a message once Kafka has it, so a burst reached it 50 at a time, one Kafka round
    // trip per batch (~130 msg/s in a canary burst). 10,000 is above the bridge's Receive Maximum
    // (its max-in-flight, 5,000), so the bridge's own value is the bound, as MQTT 5 means it to be;
    // clients asking for more (Paho's default is 65,535) get 10,000 at a time.
    InternalConfigurations.MAX_INFLIGHT_WINDOW_SIZE_MESSAGES = MAX_INFLIGHT_WINDOW;
    EmbeddedHiveMQ hiveMq = EmbeddedHiveMQ.builder()
        .withConfigurationFolder(configDir)
        .withDataFolder(data)
        .withExtensionsFolder(extensions)
        .withoutLoggingBootstrap()
        .build();
    try {
      hiveMq.start().join();
    } catch (CompletionException e) {
      closeQuietly(hiveMq);
      if (!FreePorts.isFree(bindPort)) {
        // Lost a race for the port between the check above and HiveMQ's bind.
        throw portInUse(bindPort);
      }
      throw new IllegalStateException("The embedded MQTT broker (HiveMQ) did not start on port "
          + bindPort + " with data in " + root + ": " + e.getCause()
          + ". Check the log above; deleting " + data + " discards broken state.", e.getCause());
    }
    if (!FreePorts.accepts(FreePorts.LOOPBACK, bindPort, 2000)) {
      closeQuietly(hiveMq);
      throw new IllegalStateException("HiveMQ reported started but nothing accepts connections on "
          + FreePorts.LOOPBACK + ":" + bindPort + ": check " + configDir.resolve("config.xml"));
    }
    log.info("Started embedded MQTT broker (HiveMQ CE, MQTT 3.1.1/5, {} persistence) on {} in {} ms,"
        + " data in {}", persistence, "tcp://" + FreePorts.LOOPBACK + ":" + bindPort,
        TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0), root);
    return new EmbeddedMqttBroker(bindPort, root, hiveMq);
  }

  /**
   * The broker shared by every test in this JVM: started on first use on a free port with
   * in-memory persistence in a temporary folder, stopped by a JVM shutdown hook. Do not close it.
   */
  public static synchronized EmbeddedMqttBroker shared() {
    if (shared == null) {
      Path dir;
      try {
        dir = Files.createTempDirectory("fleetplane-hivemq-");
      } catch (IOException e) {
        throw new UncheckedIOException("Cannot create a temporary folder for the shared MQTT broker", e);
      }
      EmbeddedMqttBroker broker = start(0, dir, Persistence.IN_MEMORY);
      broker.sharedInstance = true;
      Runtime.getRuntime().addShutdownHook(new Thread(() -> {
        broker.stop();
        TempDirs.deleteQuietly(dir);
      }, "fleetplane-shared-mqtt-broker-stop"));
      shared = broker;
    }
    return shared;
  }

  /** {@code tcp://127.0.0.1:PORT}, as Paho expects it. */
  public String serverUri() {
    return "tcp://" + FreePorts.LOOPBACK + ":" + port;
  }

  public int port() {
    return port;
  }

  public Path dataDir() {
    return dataDir;
  }

  /**
   * Stops the broker (takes a few seconds); idempotent. Ignored for {@link #shared()}: other
   * tests in this JVM still use it, and a shutdown hook stops it.
   */
  @Override
  public void close() {
    if (sharedInstance) {
      log.debug("close() on the shared MQTT broker ignored: it stops when the JVM exits");
      return;
    }
    stop();
  }

  private synchronized void stop() {
    if (stopped) {
      return;
    }
    stopped = true;
    long t0 = System.nanoTime();
    closeQuietly(hiveMq);
    log.info("Stopped embedded MQTT broker on {} in {} ms", serverUri(),
        TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0));
  }

  private static PortInUseException portInUse(int port) {
    return new PortInUseException(port, "MQTT port " + port + " on " + FreePorts.LOOPBACK
        + " is already in use (another broker or process listens there). Pass --mqtt-port <port>"
        + " to start the embedded broker on another port, or set FLEETPLANE_MQTT_URI=tcp://host:port"
        + " to use an external broker instead of starting one.");
  }

  private static String configXml(int port, Persistence persistence) {
    return """
        <?xml version="1.0"?>
        <!-- Written by Fleetplane EmbeddedMqttBroker on every start: edits are overwritten. -->
        <hivemq>
            <listeners>
                <tcp-listener>
                    <port>%d</port>
                    <bind-address>%s</bind-address>
                </tcp-listener>
            </listeners>
            <mqtt>
                <queued-messages>
                    <!-- Messages the broker holds for one session beyond its in-flight window,
                         here above all for the bridge's persistent session while Kafka is slow
                         or the bridge restarts. HiveMQ's default (1000) DISCARDS the rest, which
                         a 3,000-client canary burst overruns; 200,000 x ~1 KiB bounds the worst
                         case at ~200 MiB of broker heap. -->
                    <max-queue-size>200000</max-queue-size>
                </queued-messages>
            </mqtt>
            <restrictions>
                <!-- How long a client may take between its TCP connect and its CONNECT packet.
                     HiveMQ's default (10 s) dropped hundreds of a 3,000-client canary's connects
                     on a 2-core machine whose clients took longer than that to send CONNECT
                     ("Connection lost" in the verdict). -->
                <no-connect-idle-timeout>60000</no-connect-idle-timeout>
            </restrictions>
            <persistence>
                <mode>%s</mode>
            </persistence>
            <anonymous-usage-statistics>
                <enabled>false</enabled>
            </anonymous-usage-statistics>
        </hivemq>
        """.formatted(port, FreePorts.LOOPBACK,
        persistence == Persistence.FILE ? "file" : "in-memory");
  }

  private static void closeQuietly(EmbeddedHiveMQ hiveMq) {
    try {
      hiveMq.stop().join();
      hiveMq.close();
    } catch (Exception e) {
      log.warn("Error while stopping the embedded MQTT broker", e);
    }
  }
}
