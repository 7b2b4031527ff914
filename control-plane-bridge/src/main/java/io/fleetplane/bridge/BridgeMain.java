package io.fleetplane.bridge;

import akka.Done;
import akka.actor.CoordinatedShutdown;
import akka.actor.typed.ActorSystem;
import akka.actor.typed.javadsl.Behaviors;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import io.fleetplane.bridge.command.CommandBridgeSettings;
import io.fleetplane.config.FleetplaneConfig;
import io.fleetplane.config.KafkaSettings;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The bridge as a process of its own: {@code java -cp <classpath> io.fleetplane.bridge.BridgeMain
 * [--config FILE]}. Configuration comes from {@link FleetplaneConfig#load()} (system properties,
 * {@code application.conf}, environment variables named in reference.conf, defaults), optionally
 * with a HOCON file layered below the system properties.
 *
 * <p>It starts its own ActorSystem, the bridge ({@link MqttKafkaBridge#launch}: keeps retrying
 * until the broker and Kafka are there), the command bridge ({@link CommandSide}: retries the
 * same way) and the health/metrics endpoint
 * ({@link BridgeHttpServer}). SIGTERM or SIGINT runs Akka's CoordinatedShutdown: stop taking
 * from MQTT, drain in-flight messages to Kafka and acknowledge them, disconnect, then stop the
 * HTTP endpoint. Exit codes: 0 after a shutdown, 1 if it cannot start, 2 for bad arguments or
 * configuration.
 */
public final class BridgeMain {

  private static final Logger log = LoggerFactory.getLogger(BridgeMain.class);
  static final String USAGE = """
      Usage: BridgeMain [--config FILE] [--help]

      Runs the Fleetplane bridge until SIGTERM/SIGINT: MQTT -> Kafka (device-to-cloud) and
      Kafka -> MQTT commands with their replies back to Kafka (cloud-to-device).
        --config FILE  HOCON file with overrides (below -D system properties, above
                       application.conf and the defaults)
        --help         this text

      Main settings (environment variable / system property), all in the bridge's reference.conf:
        FLEETPLANE_MQTT_URI                 -Dfleetplane.bridge.mqtt.server-uri        tcp://127.0.0.1:1883
        FLEETPLANE_MQTT_USERNAME/_PASSWORD  -Dfleetplane.bridge.mqtt.username/password (anonymous)
        FLEETPLANE_MQTT_CLIENT_ID           -Dfleetplane.bridge.mqtt.client-id         fleetplane-bridge-<instance-id>
        FLEETPLANE_MQTT_SHARED_GROUP        -Dfleetplane.bridge.mqtt.shared-subscription-group (none)
        FLEETPLANE_BRIDGE_INSTANCE_ID       -Dfleetplane.bridge.instance-id            bridge-1
        FLEETPLANE_KAFKA_BOOTSTRAP_SERVERS  -Dfleetplane.kafka.bootstrap-servers       127.0.0.1:9092
        FLEETPLANE_BRIDGE_HTTP_HOST         -Dfleetplane.bridge.http.host              127.0.0.1
        FLEETPLANE_BRIDGE_HTTP_PORT         -Dfleetplane.bridge.http.port              8091 (0 = any free port)
      Commands: fleetplane.bridge.commands.* (topics fleet.device-commands -> .../command, replies
      -> fleet.device-command-replies; FLEETPLANE_COMMANDS_MQTT_CLIENT_ID, _GROUP_ID, _SHARED_GROUP).
      Endpoints: GET /health (200 healthy, 503 degraded, JSON), GET /metrics (Prometheus text).
      """;

  private BridgeMain() {}

  public static void main(String[] args) {
    int exit = run(args, System.out, System.err);
    if (exit >= 0) {
      System.exit(exit);
    }
    // Running: the ActorSystem's threads keep the JVM alive until CoordinatedShutdown ends it.
  }

  /** Starts the bridge; returns an exit code to exit with now, or -1 while it runs. */
  static int run(String[] args, PrintStream out, PrintStream err) {
    Config overrides = ConfigFactory.empty();
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--help", "-h" -> {
          out.print(USAGE);
          return 0;
        }
        case "--config" -> {
          if (i + 1 >= args.length || !Files.isReadable(Path.of(args[i + 1]))) {
            err.println("--config needs a readable HOCON file" + (i + 1 < args.length ? ": " + args[i + 1] : ""));
            return 2;
          }
          overrides = ConfigFactory.parseFile(Path.of(args[++i]).toFile());
        }
        default -> {
          err.println("Unknown argument '" + args[i] + "'.\n" + USAGE);
          return 2;
        }
      }
    }
    Config config;
    BridgeSettings settings;
    CommandBridgeSettings commandSettings;
    KafkaSettings kafka;
    try {
      // -D system properties still win over the file.
      config = FleetplaneConfig.load(ConfigFactory.systemProperties().withFallback(overrides));
      settings = BridgeSettings.fromConfig(config);
      commandSettings = CommandBridgeSettings.fromConfig(config);
      kafka = KafkaSettings.fromConfig(config);
    } catch (ConfigException | IllegalArgumentException e) {
      err.println("Bridge configuration is invalid: " + e.getMessage());
      return 2;
    }
    try {
      start(config, settings, commandSettings, kafka);
      return -1;
    } catch (RuntimeException e) {
      err.println("Bridge could not start: " + e.getMessage());
      log.error("Bridge could not start", e);
      return 1;
    }
  }

  /** A running standalone bridge: its ActorSystem, the bridge, and the HTTP endpoint. */
  record Running(ActorSystem<Void> system, MqttKafkaBridge bridge, BridgeHttpServer http) {}

  static Running start(Config config, BridgeSettings settings, CommandBridgeSettings commandSettings,
      KafkaSettings kafka) {
    ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), "fleetplane-bridge",
        processConfig(settings).withFallback(config));
    try {
      MqttKafkaBridge bridge = MqttKafkaBridge.launch(system, settings, kafka);
      CommandSide commands = CommandSide.launch(system, commandSettings, kafka,
          settings.restart());
      BridgeHttpServer http = settings.http().enabled()
          ? BridgeHttpServer.start(settings.http().host(), settings.http().port(),
              () -> new CommandSide.ProcessHealth(bridge.health(), commands.health()),
              () -> bridge.metrics().prometheusText())
          : null;
      CoordinatedShutdown shutdown = CoordinatedShutdown.get(system);
      shutdown.addTask(CoordinatedShutdown.PhaseBeforeServiceUnbind(), "stop-bridge", bridge::stop);
      shutdown.addTask(CoordinatedShutdown.PhaseBeforeServiceUnbind(), "stop-command-bridge", commands::stop);
      if (http != null) {
        shutdown.addTask(CoordinatedShutdown.PhaseServiceStop(), "stop-bridge-http", () -> {
          http.close();
          return CompletableFuture.completedFuture(Done.getInstance());
        });
      }
      log.info("Fleetplane bridge {} running: MQTT {}, Kafka {}, health {}", settings.instanceId(),
          settings.mqtt().serverUri(), kafka.bootstrapServers(),
          http == null ? "off" : "http://" + settings.http().host() + ":" + http.port() + "/health");
      return new Running(system, bridge, http);
    } catch (RuntimeException e) {
      system.terminate();
      throw e;
    }
  }

  /**
   * Akka settings this process needs whatever application.conf says: the shutdown phase that
   * drains the bridge must outlast the drain, and a terminated ActorSystem must end the JVM
   * instead of leaving a process that does nothing.
   */
  static Config processConfig(BridgeSettings settings) {
    // Drain, then the PUBACK barrier (MqttInbound, up to 5 s), the DISCONNECT (5 s), the producer's close.
    Duration drain = settings.shutdownTimeout().plus(settings.producer().closeTimeout()).plusSeconds(10);
    return ConfigFactory.parseMap(Map.of(
        "akka.coordinated-shutdown.phases.before-service-unbind.timeout", drain.toMillis() + "ms",
        "akka.coordinated-shutdown.run-by-jvm-shutdown-hook", "on",
        "akka.coordinated-shutdown.exit-jvm", "on"));
  }
}
