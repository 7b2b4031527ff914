package io.fleetplane.http;

import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code ./fleetplane <subcommand>}: the one entry point. */
@Command(name = "fleetplane", mixinStandardHelpOptions = true,
    description = "Fleetplane: an actor-based control plane for MQTT devices.",
    subcommands = {Launcher.Local.class, Launcher.Node.class})
public final class Launcher implements Runnable {

  @Override
  public void run() {
    CommandLine.usage(this, System.out);
  }

  public static void main(String[] args) {
    System.exit(new CommandLine(new Launcher()).execute(args));
  }

  @Command(name = "local", mixinStandardHelpOptions = true,
      description = "Run the whole platform on this machine: embedded PostgreSQL, Kafka and MQTT "
          + "broker, the bridge and the node. Ctrl-C stops it; data stays in --data-dir.")
  static final class Local implements Callable<Integer> {
    @Option(names = "--data-dir", defaultValue = "fleetplane-data",
        description = "Where local state lives (default: ${DEFAULT-VALUE}).")
    Path dataDir;

    @Option(names = "--http-port", defaultValue = "8080", description = "HTTP API port (default: ${DEFAULT-VALUE}).")
    int httpPort;

    @Option(names = "--kafka-port", defaultValue = "9092", description = "Embedded Kafka port (default: ${DEFAULT-VALUE}).")
    int kafkaPort;

    @Option(names = "--mqtt-port", defaultValue = "1883", description = "Embedded MQTT broker port (default: ${DEFAULT-VALUE}).")
    int mqttPort;

    @Option(names = "--mqtt-uri", defaultValue = "${env:FLEETPLANE_MQTT_URI}",
        description = "Use this external MQTT broker (e.g. tcp://127.0.0.1:1883) instead of embedding one.")
    String mqttUri;

    @Option(names = "--postgres-port", defaultValue = "0",
        description = "Embedded PostgreSQL port (default: a free port).")
    int postgresPort;

    @Option(names = "--no-kamon-agent", description = "Do not attach Kamon's instrumentation agent.")
    boolean noKamonAgent;

    @Override
    public Integer call() throws Exception {
      LocalPlatform platform;
      try {
        platform = LocalPlatform.start(new LocalPlatform.Options(dataDir, httpPort, kafkaPort, mqttPort,
            Optional.ofNullable(mqttUri), postgresPort, !noKamonAgent));
      } catch (Exception e) {
        System.err.println();
        System.err.println("fleetplane local could not start: " + e.getMessage());
        return 2;
      }
      int port = platform.node().httpPort();
      System.out.printf("%nFleetplane is up.%n  HTTP    http://127.0.0.1:%d/api/v1/devices/{deviceSessionId}"
              + "   (ready: http://127.0.0.1:%d/health/ready)%n  MQTT    %s%n  Kafka   %s%n  Data    %s%n"
              + "Press Ctrl-C to stop.%n",
          port, port, platform.mqttUri(), platform.kafkaBootstrapServers(), dataDir.toAbsolutePath());
      CountDownLatch stopped = new CountDownLatch(1);
      Runtime.getRuntime().addShutdownHook(new Thread(() -> {
        platform.close();
        stopped.countDown();
      }, "fleetplane-local-shutdown"));
      platform.node().system().getWhenTerminated().toCompletableFuture().join();
      stopped.await();
      return 0;
    }
  }

  @Command(name = "node", mixinStandardHelpOptions = true,
      description = "Run one node against external Kafka, MQTT and PostgreSQL, configured by "
          + "application.conf or FLEETPLANE_* environment variables (see README).")
  static final class Node implements Callable<Integer> {
    @Override
    public Integer call() throws Exception {
      FleetplaneNode node = FleetplaneNode.start(io.fleetplane.config.FleetplaneConfig.load());
      System.out.printf("Fleetplane node up on HTTP port %d. Ctrl-C stops it.%n", node.httpPort());
      node.system().getWhenTerminated().toCompletableFuture().join();
      return 0;
    }
  }
}
