package io.fleetplane.testkit.infra;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Owns one {@code mosquitto} process started for a test, with its own generated config in its
 * own temporary folder, listening on 127.0.0.1 only.
 *
 * <p>Why: Mosquitto starts in milliseconds, so a test that needs its own broker configuration
 * (password file, ACL) gets a private broker instead of touching the machine's one. {@link
 * #close()} ends only the process this object started, through its {@link Process} handle.
 *
 * <p>{@link #machineBroker()} answers a different question: whether the machine's own Mosquitto
 * (127.0.0.1:1883, started by {@code .ci/run}) is there for tests that expect it.
 */
public final class MosquittoBroker implements AutoCloseable {

  public static final Path DEFAULT_EXECUTABLE = Path.of("/usr/sbin/mosquitto");
  public static final int MACHINE_PORT = 1883;

  private static final Logger log = LoggerFactory.getLogger(MosquittoBroker.class);
  private static final Duration STARTUP_TIMEOUT = Duration.ofSeconds(10);
  private static final Duration STOP_TIMEOUT = Duration.ofSeconds(5);

  private final Process process;
  private final int port;
  private final Path workDir;
  private final Path configFile;
  private final Path logFile;

  private MosquittoBroker(Process process, int port, Path workDir, Path configFile, Path logFile) {
    this.process = process;
    this.port = port;
    this.workDir = workDir;
    this.configFile = configFile;
    this.logFile = logFile;
  }

  /** A broker on a free port that accepts anonymous clients. */
  public static MosquittoBroker start() {
    return builder().start();
  }

  public static Builder builder() {
    return new Builder();
  }

  /** {@code tcp://127.0.0.1:PORT}. */
  public String serverUri() {
    return "tcp://" + FreePorts.LOOPBACK + ":" + port;
  }

  public int port() {
    return port;
  }

  /** The generated mosquitto.conf, useful when a test fails. */
  public Path configFile() {
    return configFile;
  }

  /** Mosquitto's own log (stdout and stderr of the process). */
  public Path logFile() {
    return logFile;
  }

  public boolean isRunning() {
    return process.isAlive();
  }

  public long pid() {
    return process.pid();
  }

  /** Terminates the process this object started (SIGTERM, then SIGKILL) and deletes its folder. */
  @Override
  public void close() {
    if (process.isAlive()) {
      process.destroy();
      try {
        if (!process.waitFor(STOP_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
          log.warn("mosquitto pid {} ignored SIGTERM for {}, killing it", process.pid(), STOP_TIMEOUT);
          process.destroyForcibly().waitFor(STOP_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        }
      } catch (InterruptedException e) {
        process.destroyForcibly();
        Thread.currentThread().interrupt();
      }
      log.info("Stopped mosquitto pid {} on {}", process.pid(), serverUri());
    }
    TempDirs.deleteQuietly(workDir);
  }

  /**
   * The machine's Mosquitto, if something accepts TCP connections on 127.0.0.1:1883: its URI,
   * otherwise empty (see {@link #machineBrokerMissingMessage()}).
   */
  public static Optional<String> machineBroker() {
    return FreePorts.accepts(FreePorts.LOOPBACK, MACHINE_PORT, 1000)
        ? Optional.of("tcp://" + FreePorts.LOOPBACK + ":" + MACHINE_PORT)
        : Optional.empty();
  }

  /** The machine broker's URI, or an {@link IllegalStateException} saying how to start it. */
  public static String requireMachineBroker() {
    return machineBroker().orElseThrow(() -> new IllegalStateException(machineBrokerMissingMessage()));
  }

  /** What is missing when {@link #machineBroker()} is empty, and how to fix it. */
  public static String machineBrokerMissingMessage() {
    boolean installed = Files.isExecutable(DEFAULT_EXECUTABLE);
    StringBuilder m = new StringBuilder("No MQTT broker accepts connections on ")
        .append(FreePorts.LOOPBACK).append(':').append(MACHINE_PORT)
        .append(": tests that use the machine's Mosquitto need it running. ");
    if (!installed) {
      m.append("Mosquitto is not installed (no ").append(DEFAULT_EXECUTABLE)
          .append("): install it with `apt-get install -y mosquitto`, then start it ");
    } else {
      m.append("Mosquitto is installed but not running: start it ");
    }
    m.append("with `mosquitto -d -c /etc/mosquitto/mosquitto.conf`. ")
        .append(".ci/run does both before the build.");
    return m.toString();
  }

  /** Options for a per-test broker; every option ends up as a line of the generated config. */
  public static final class Builder {
    private Path executable = DEFAULT_EXECUTABLE;
    private int port;
    private boolean allowAnonymous = true;
    private Path passwordFile;
    private Path aclFile;
    private final List<String> extraLines = new ArrayList<>();

    private Builder() {}

    /** Port on 127.0.0.1; 0 (the default) picks a free one. */
    public Builder port(int port) {
      this.port = port;
      return this;
    }

    public Builder allowAnonymous(boolean allowAnonymous) {
      this.allowAnonymous = allowAnonymous;
      return this;
    }

    /** A file made with {@code mosquitto_passwd}; copied into the broker's folder. */
    public Builder passwordFile(Path passwordFile) {
      this.passwordFile = passwordFile;
      return this;
    }

    /** A Mosquitto ACL file; copied into the broker's folder. */
    public Builder aclFile(Path aclFile) {
      this.aclFile = aclFile;
      return this;
    }

    /** Any other mosquitto.conf line, e.g. {@code max_inflight_messages 10}. */
    public Builder configLine(String line) {
      this.extraLines.add(line);
      return this;
    }

    public Builder executable(Path executable) {
      this.executable = executable;
      return this;
    }

    public MosquittoBroker start() {
      if (!Files.isExecutable(executable)) {
        throw new IllegalStateException("Cannot run " + executable + ": install Mosquitto with "
            + "`apt-get install -y mosquitto` (.ci/run does this).");
      }
      int bindPort = port == 0 ? FreePorts.next() : port;
      if (!FreePorts.isFree(bindPort)) {
        throw new PortInUseException(bindPort, "Port " + bindPort + " on " + FreePorts.LOOPBACK
            + " is already in use: pass port 0 to pick a free one.");
      }
      Path dir = null;
      try {
        dir = Files.createTempDirectory("fleetplane-mosquitto-");
        Path config = dir.resolve("mosquitto.conf");
        Path logFile = dir.resolve("mosquitto.log");
        Files.writeString(config, config(dir, bindPort), StandardCharsets.UTF_8);
        makeReadableForDroppedUser(dir);
        long t0 = System.nanoTime();
        Process process = new ProcessBuilder(executable.toString(), "-c", config.toString())
            .directory(dir.toFile())
            .redirectErrorStream(true)
            .redirectOutput(logFile.toFile())
            .start();
        MosquittoBroker broker = new MosquittoBroker(process, bindPort, dir, config, logFile);
        awaitListening(broker);
        log.info("Started mosquitto pid {} on {} in {} ms (config {})", process.pid(),
            broker.serverUri(), TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0), config);
        return broker;
      } catch (IOException e) {
        TempDirs.deleteQuietly(dir);
        throw new UncheckedIOException("Could not start " + executable + ": " + e.getMessage(), e);
      }
    }

    private String config(Path dir, int bindPort) throws IOException {
      StringBuilder c = new StringBuilder("# Generated by Fleetplane MosquittoBroker\n")
          .append("per_listener_settings false\n")
          .append("listener ").append(bindPort).append(' ').append(FreePorts.LOOPBACK).append('\n')
          .append("allow_anonymous ").append(allowAnonymous).append('\n')
          .append("persistence false\n")
          .append("log_dest stdout\n")
          .append("log_type error\nlog_type warning\nlog_type notice\nlog_type information\n")
          .append("connection_messages true\n");
      if (passwordFile != null) {
        Path copy = dir.resolve("passwords");
        Files.copy(passwordFile, copy);
        c.append("password_file ").append(copy).append('\n');
      }
      if (aclFile != null) {
        Path copy = dir.resolve("acl");
        Files.copy(aclFile, copy);
        c.append("acl_file ").append(copy).append('\n');
      }
      extraLines.forEach(line -> c.append(line).append('\n'));
      return c.toString();
    }

    private static void awaitListening(MosquittoBroker broker) {
      long deadline = System.nanoTime() + STARTUP_TIMEOUT.toNanos();
      while (System.nanoTime() < deadline) {
        if (!broker.process.isAlive()) {
          String output = readQuietly(broker.logFile);
          TempDirs.deleteQuietly(broker.workDir);
          throw new IllegalStateException("mosquitto exited with code " + broker.process.exitValue()
              + " right after start. Its output:\n" + output);
        }
        if (FreePorts.accepts(FreePorts.LOOPBACK, broker.port, 200)) {
          return;
        }
        try {
          Thread.sleep(10);
        } catch (InterruptedException e) {
          broker.close();
          Thread.currentThread().interrupt();
          throw new IllegalStateException("Interrupted while waiting for mosquitto", e);
        }
      }
      String output = readQuietly(broker.logFile);
      broker.close();
      throw new IllegalStateException("mosquitto did not accept connections on " + broker.serverUri()
          + " within " + STARTUP_TIMEOUT + ". Its output:\n" + output);
    }
  }

  /**
   * Started as root, mosquitto drops to the {@code mosquitto} user before it reads the password
   * and ACL files; a temp folder is 0700 root, so it would fail with "Permission denied". The
   * folder holds nothing secret beyond test credentials, so make it readable by that user.
   */
  private static void makeReadableForDroppedUser(Path dir) throws IOException {
    try {
      Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxr-xr-x"));
      try (var files = Files.list(dir)) {
        for (Path f : (Iterable<Path>) files::iterator) {
          Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rw-r--r--"));
        }
      }
    } catch (UnsupportedOperationException e) {
      // Not a POSIX file system: there is no privilege drop to accommodate either.
    }
  }

  private static String readQuietly(Path file) {
    try {
      return Files.readString(file, StandardCharsets.UTF_8);
    } catch (IOException e) {
      return "(could not read " + file + ": " + e.getMessage() + ")";
    }
  }
}
