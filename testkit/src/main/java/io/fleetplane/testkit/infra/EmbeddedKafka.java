package io.fleetplane.testkit.infra;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import kafka.server.KafkaConfig;
import kafka.server.KafkaRaftServer;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.utils.Time;
import org.apache.kafka.metadata.storage.Formatter;
import org.apache.kafka.server.common.MetadataVersion;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Owns one Apache Kafka broker running in this JVM in KRaft mode (a single node that is both
 * broker and controller), with its data in a log directory the caller chooses.
 *
 * <p>Why in-process: tests and the product's local mode need a real broker (real partitions,
 * offsets, consumer groups, outages) without Docker or a separate install. The broker and the
 * clients come from the same Kafka release (STACK.md trap 2).
 *
 * <p>The broker port is fixed for the life of the object, so clients find the broker again after
 * {@link #restart()} (tests stop it mid-stream to simulate an outage). The controller port is
 * remembered in the log directory and reused by {@link #restart()} and by a later {@link
 * #start(int, Path)} on the same directory; it moves only if another process took it meanwhile.
 * Data is kept in every case. Everything binds to 127.0.0.1.
 */
public final class EmbeddedKafka implements AutoCloseable {

  /** Partitions of auto-created topics unless the caller asks otherwise. */
  public static final int DEFAULT_PARTITIONS = 4;

  private static final Logger log = LoggerFactory.getLogger(EmbeddedKafka.class);
  private static final int NODE_ID = 1;
  private static final String CONTROLLER_LISTENER = "CONTROLLER";
  private static final String CONTROLLER_PORT_FILE = "fleetplane-controller.port";
  private static final Duration STARTUP_TIMEOUT = Duration.ofSeconds(60);
  private static final Duration ADMIN_TIMEOUT = Duration.ofSeconds(30);

  private final int port;
  private int controllerPort; // guarded by this; changes only if another process took it
  private final Path logDir;
  private final int defaultPartitions;
  private KafkaRaftServer server; // guarded by this; null while stopped

  private EmbeddedKafka(int port, int controllerPort, Path logDir, int defaultPartitions) {
    this.port = port;
    this.controllerPort = controllerPort;
    this.logDir = logDir;
    this.defaultPartitions = defaultPartitions;
  }

  /** Starts a broker on {@code port} (0 picks a free one) with auto-created topics of 4 partitions. */
  public static EmbeddedKafka start(int port, Path logDir) {
    return start(port, logDir, DEFAULT_PARTITIONS);
  }

  /**
   * Starts a broker on {@code port} (0 picks a free one), formatting {@code logDir} if it was not
   * formatted before and reusing its data otherwise. Returns once the broker serves clients.
   *
   * @throws PortInUseException if another process listens on {@code port}
   */
  public static EmbeddedKafka start(int port, Path logDir, int defaultPartitions) {
    if (port < 0 || port > 65535) {
      throw new IllegalArgumentException("Kafka port must be 0 (pick a free one) or 1-65535, was " + port);
    }
    if (defaultPartitions < 1) {
      throw new IllegalArgumentException("defaultPartitions must be >= 1, was " + defaultPartitions);
    }
    Path dir = logDir.toAbsolutePath();
    try {
      Files.createDirectories(dir);
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot create the Kafka log directory " + dir
          + ": choose a writable directory.", e);
    }
    int brokerPort = port == 0 ? FreePorts.next() : port;
    EmbeddedKafka kafka = new EmbeddedKafka(brokerPort, controllerPort(dir), dir, defaultPartitions);
    kafka.startServer();
    return kafka;
  }

  /** {@code 127.0.0.1:PORT}, for {@code bootstrap.servers}. */
  public String bootstrapServers() {
    return FreePorts.LOOPBACK + ":" + port;
  }

  public int port() {
    return port;
  }

  /** The KRaft controller listener (internal; remembered in the log dir). */
  public synchronized int controllerPort() {
    return controllerPort;
  }

  public Path logDir() {
    return logDir;
  }

  public synchronized boolean isRunning() {
    return server != null;
  }

  /**
   * Creates the topics with {@code partitions} partitions and replication factor 1, and waits
   * until every partition has a leader. Topics that already exist are left as they are.
   */
  public void createTopics(int partitions, String... names) {
    if (names.length == 0) {
      return;
    }
    List<NewTopic> topics = new ArrayList<>();
    for (String name : names) {
      topics.add(new NewTopic(name, partitions, (short) 1));
    }
    try (Admin admin = admin()) {
      for (var entry : admin.createTopics(topics).values().entrySet()) {
        try {
          entry.getValue().get(ADMIN_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
          if (!(e.getCause() instanceof TopicExistsException)) {
            throw new IllegalStateException("Creating Kafka topic '" + entry.getKey() + "' on "
                + bootstrapServers() + " failed: " + e.getCause(), e.getCause());
          }
        }
      }
      awaitLeaders(admin, List.of(names));
      log.info("Kafka topics {} ready on {} ({} partitions requested)", List.of(names),
          bootstrapServers(), partitions);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("Interrupted while creating Kafka topics " + List.of(names), e);
    } catch (TimeoutException e) {
      throw new IllegalStateException("Kafka on " + bootstrapServers() + " did not create topics "
          + List.of(names) + " within " + ADMIN_TIMEOUT + ": is it running?", e);
    }
  }

  /** Shuts the broker down cleanly (data flushed); the object can be {@link #restart()}ed. */
  public synchronized void stop() {
    if (server == null) {
      return;
    }
    long t0 = System.nanoTime();
    KafkaRaftServer stopping = server;
    server = null;
    stopping.shutdown();
    stopping.awaitShutdown();
    log.info("Stopped embedded Kafka on {} in {} ms", bootstrapServers(), millisSince(t0));
  }

  /** Stops the broker if it runs, then starts it again on the same ports and log directory. */
  public synchronized void restart() {
    stop();
    startServer();
  }

  @Override
  public void close() {
    stop();
  }

  private synchronized void startServer() {
    if (server != null) {
      return;
    }
    if (!FreePorts.isFree(port)) {
      throw new PortInUseException(port, "Kafka port " + port + " on " + FreePorts.LOOPBACK
          + " is already in use by another process: pick another port, or 0 for a free one.");
    }
    if (!FreePorts.isFree(controllerPort)) {
      // Clients never see the controller port and the quorum (static voters, one node) accepts a
      // new address on restart (tried: data kept), so move rather than fail.
      int taken = controllerPort;
      controllerPort = FreePorts.next();
      writeControllerPort(logDir, controllerPort);
      log.warn("Kafka controller port {} is taken by another process; moving the controller to {}",
          taken, controllerPort);
    }
    long t0 = System.nanoTime();
    formatIfNeeded();
    KafkaRaftServer starting = null;
    try {
      starting = new KafkaRaftServer(KafkaConfig.fromProps(brokerProperties(), false), Time.SYSTEM);
      starting.startup();
      awaitServing();
    } catch (RuntimeException e) {
      if (starting != null) {
        shutdownQuietly(starting);
      }
      throw new IllegalStateException("Embedded Kafka did not start on " + bootstrapServers()
          + " (controller port " + controllerPort + ", log dir " + logDir + "): " + e.getMessage()
          + ". Check the log above; if the log dir was written by another Kafka version or cluster,"
          + " delete it.", e);
    }
    server = starting;
    log.info("Started embedded Kafka {} (KRaft, node {}) on {} (controller 127.0.0.1:{}), log dir {},"
        + " in {} ms", kafkaVersion(), NODE_ID, bootstrapServers(), controllerPort, logDir,
        millisSince(t0));
  }

  private Properties brokerProperties() {
    Properties p = new Properties();
    p.put("process.roles", "broker,controller");
    p.put("node.id", String.valueOf(NODE_ID));
    p.put("controller.quorum.voters", NODE_ID + "@" + FreePorts.LOOPBACK + ":" + controllerPort);
    p.put("listeners", "PLAINTEXT://" + FreePorts.LOOPBACK + ":" + port + ","
        + CONTROLLER_LISTENER + "://" + FreePorts.LOOPBACK + ":" + controllerPort);
    p.put("advertised.listeners", "PLAINTEXT://" + FreePorts.LOOPBACK + ":" + port);
    p.put("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT," + CONTROLLER_LISTENER + ":PLAINTEXT");
    p.put("controller.listener.names", CONTROLLER_LISTENER);
    p.put("inter.broker.listener.name", "PLAINTEXT");
    p.put("log.dirs", logDir.toString());
    p.put("metadata.log.dir", logDir.toString());
    // One node: every replication factor and ISR minimum must be 1.
    p.put("default.replication.factor", "1");
    p.put("min.insync.replicas", "1");
    p.put("offsets.topic.replication.factor", "1");
    p.put("transaction.state.log.replication.factor", "1");
    p.put("transaction.state.log.min.isr", "1");
    // Internal topics default to 50 partitions each: 5 starts much faster and is plenty here.
    p.put("offsets.topic.num.partitions", "5");
    p.put("transaction.state.log.num.partitions", "5");
    // Consumer groups form immediately instead of waiting 3 s for more members.
    p.put("group.initial.rebalance.delay.ms", "0");
    p.put("auto.create.topics.enable", "true");
    p.put("num.partitions", String.valueOf(defaultPartitions));
    // The machine has few cores and is shared: fewer threads, and a small log-cleaner buffer
    // (the default allocates 128 MB of heap as soon as a compacted topic exists).
    p.put("num.network.threads", "2");
    p.put("num.io.threads", "2");
    p.put("background.threads", "2");
    p.put("num.recovery.threads.per.data.dir", "1");
    p.put("log.cleaner.dedupe.buffer.size", String.valueOf(8 * 1024 * 1024));
    p.put("auto.leader.rebalance.enable", "false");
    return p;
  }

  /** Formats the directory once; a directory that holds meta.properties keeps its data. */
  private void formatIfNeeded() {
    if (Files.exists(logDir.resolve("meta.properties"))) {
      log.info("Reusing formatted Kafka log dir {}", logDir);
      return;
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (PrintStream print = new PrintStream(out, true, StandardCharsets.UTF_8)) {
      new Formatter()
          .setPrintStream(print)
          .setNodeId(NODE_ID)
          .setClusterId(Uuid.randomUuid().toString())
          .addDirectory(logDir.toString())
          .setMetadataLogDirectory(logDir.toString())
          .setControllerListenerName(CONTROLLER_LISTENER)
          .setReleaseVersion(MetadataVersion.latestProduction())
          // A concurrent or half-finished earlier format is not an error: keep what is there.
          .setIgnoreFormatted(true)
          .run();
    } catch (Exception e) {
      throw new IllegalStateException("Formatting the Kafka log dir " + logDir + " failed: "
          + e.getMessage() + ". Make it writable, or delete it to start from scratch.", e);
    }
    log.info("Formatted Kafka log dir {}: {}", logDir, out.toString(StandardCharsets.UTF_8).trim());
  }

  /** startup() can return before the broker answers; only a client request proves it serves. */
  private void awaitServing() {
    long deadline = System.nanoTime() + STARTUP_TIMEOUT.toNanos();
    Exception last = null;
    try (Admin admin = admin()) {
      while (System.nanoTime() < deadline) {
        try {
          var nodes = admin.describeCluster().nodes().get(5, TimeUnit.SECONDS);
          if (!nodes.isEmpty()) {
            return;
          }
        } catch (ExecutionException | TimeoutException e) {
          last = e;
        }
        Thread.sleep(100);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("Interrupted while waiting for Kafka to serve", e);
    }
    throw new IllegalStateException("Kafka on " + bootstrapServers() + " did not answer a "
        + "describeCluster request within " + STARTUP_TIMEOUT + (last == null ? "" : " (last error: "
        + last.getCause() + ")"));
  }

  private void awaitLeaders(Admin admin, List<String> names)
      throws InterruptedException, TimeoutException {
    long deadline = System.nanoTime() + ADMIN_TIMEOUT.toNanos();
    while (System.nanoTime() < deadline) {
      try {
        Map<String, TopicDescription> descriptions =
            admin.describeTopics(names).allTopicNames().get(5, TimeUnit.SECONDS);
        boolean allLed = descriptions.values().stream()
            .flatMap(d -> d.partitions().stream())
            .map(TopicPartitionInfo::leader)
            .allMatch(leader -> leader != null && !leader.isEmpty());
        if (allLed) {
          return;
        }
      } catch (ExecutionException e) {
        // Metadata not propagated yet (UnknownTopicOrPartition): keep polling.
      }
      Thread.sleep(50);
    }
    throw new TimeoutException("partitions of " + names + " had no leader after " + ADMIN_TIMEOUT);
  }

  private Admin admin() {
    Properties p = new Properties();
    p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers());
    p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "5000");
    p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "10000");
    p.put(AdminClientConfig.CLIENT_ID_CONFIG, "fleetplane-embedded-kafka-admin");
    return Admin.create(p);
  }

  /**
   * The controller port is internal to the broker, but a restart on the same directory should
   * come back on the same one (the quorum voters name it), so it lives beside the data.
   */
  private static int controllerPort(Path dir) {
    Path file = dir.resolve(CONTROLLER_PORT_FILE);
    try {
      if (Files.exists(file)) {
        return Integer.parseInt(Files.readString(file, StandardCharsets.UTF_8).trim());
      }
      int port = FreePorts.next();
      writeControllerPort(dir, port);
      return port;
    } catch (IOException | NumberFormatException e) {
      throw new IllegalStateException("Cannot read the Kafka controller port file " + file
          + ": delete it to pick a new port.", e);
    }
  }

  private static void writeControllerPort(Path dir, int port) {
    Path file = dir.resolve(CONTROLLER_PORT_FILE);
    try {
      Files.writeString(file, port + "\n", StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot write the Kafka controller port file " + file
          + ": make the log dir writable.", e);
    }
  }

  private static void shutdownQuietly(KafkaRaftServer s) {
    try {
      s.shutdown();
      s.awaitShutdown();
    } catch (RuntimeException e) {
      log.warn("Error while shutting down a Kafka broker that failed to start", e);
    }
  }

  private static String kafkaVersion() {
    return org.apache.kafka.common.utils.AppInfoParser.getVersion();
  }

  private static long millisSince(long t0) {
    return TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
  }
}
