package io.fleetplane.http;

import akka.Done;
import akka.actor.CoordinatedShutdown;
import akka.actor.typed.ActorSystem;
import akka.actor.typed.javadsl.Behaviors;
import akka.cluster.typed.Cluster;
import akka.cluster.typed.Join;
import akka.http.javadsl.Http;
import akka.http.javadsl.ServerBinding;
import com.typesafe.config.Config;
import io.fleetplane.bridge.BridgeSettings;
import io.fleetplane.bridge.MqttKafkaBridge;
import io.fleetplane.bridge.command.CommandBridge;
import io.fleetplane.bridge.command.CommandBridgeSettings;
import io.fleetplane.config.KafkaSettings;
import io.fleetplane.persistence.DatabaseMigrations;
import io.fleetplane.persistence.PersistenceSettings;
import io.fleetplane.registry.DeviceEventsIngest;
import io.fleetplane.registry.DeviceSession;
import io.fleetplane.registry.RegistrySettings;
import io.fleetplane.registry.readside.DeviceReadSide;
import io.fleetplane.registry.readside.ReadSideSettings;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One Fleetplane node: migrates the database, starts the actor system (a cluster member), the
 * device sessions, the device read side (its projection runs once in the cluster), the Kafka
 * ingest, optionally the bridge, and the HTTP API. Stopping it runs
 * Akka's CoordinatedShutdown, which stops the bridge (drains to Kafka), unbinds HTTP, drains the
 * ingest (commits offsets) and only then stops the actors.
 */
public final class FleetplaneNode {

  private static final Logger log = LoggerFactory.getLogger(FleetplaneNode.class);

  private final ActorSystem<Void> system;
  private final ServerBinding binding;
  private final Optional<MqttKafkaBridge> bridge;
  private final Optional<DeviceEventsIngest> ingest;
  private final HealthRoutes health;

  private FleetplaneNode(ActorSystem<Void> system, ServerBinding binding, Optional<MqttKafkaBridge> bridge,
      Optional<DeviceEventsIngest> ingest, HealthRoutes health) {
    this.system = system;
    this.binding = binding;
    this.bridge = bridge;
    this.ingest = ingest;
    this.health = health;
  }

  /** Starts a node from a fully loaded configuration; blocks until it serves HTTP. */
  public static FleetplaneNode start(Config config) {
    NodeSettings node = NodeSettings.fromConfig(config);
    PersistenceSettings persistence = PersistenceSettings.fromConfig(config);
    KafkaSettings kafka = KafkaSettings.fromConfig(config);
    Observability.start(config, node.kamonAgent());

    if (persistence.migrateOnStart()) {
      DatabaseMigrations.migrate(persistence);
    }
    ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), "fleetplane", config);
    try {
      if (node.selfJoinCluster()) {
        Cluster cluster = Cluster.get(system);
        cluster.manager().tell(Join.create(cluster.selfMember().address()));
      }
      DeviceSession.init(system);
      // Push notifications need only Kafka; a device's copy goes through whichever command bridge runs.
      io.fleetplane.http.notify.KafkaPushNotifier push = new io.fleetplane.http.notify.KafkaPushNotifier(kafka,
          io.fleetplane.jobs.distribution.DistributionSettings.fromConfig(config).push(),
          CommandBridgeSettings.fromConfig(config).commandsTopic());
      // After the distribution pool stopped (PhaseServiceRequestsDone): no push is in flight then.
      CoordinatedShutdown.get(system).addTask(CoordinatedShutdown.PhaseServiceStop(), "close-push-producer", () -> {
        push.close();
        return java.util.concurrent.CompletableFuture.completedFuture(Done.getInstance());
      });
      io.fleetplane.jobs.distribution.Distributions.start(system, push);
      io.fleetplane.jobs.workflow.WorkflowEngine.start(system);
      io.fleetplane.jobs.workflow.schedule.WorkflowSchedules.start(system);
      var signals = io.fleetplane.jobs.workflow.signal.WorkflowSignals.start(system);
      SignalsKafkaSource.Settings signalsKafka = SignalsKafkaSource.Settings.fromConfig(config);
      if (signalsKafka.enabled()) {
        SignalsKafkaSource source = SignalsKafkaSource.start(system, signals, kafka, signalsKafka);
        akka.actor.CoordinatedShutdown.get(system).addTask(akka.actor.CoordinatedShutdown.PhaseServiceUnbind(),
            "stop-signals-consumer", source::stop);
      }
      DeviceReadSide readSide = DeviceReadSide.start(system, persistence, ReadSideSettings.fromConfig(config));
      // Signal sources beyond HTTP and Kafka: device-state predicates over the read side, and
      // distribution jobs reaching a terminal state.
      DevicePredicates predicates = DevicePredicates.start(system, readSide.queries(), signals);
      DistributionCompletionSignals.start(system, io.fleetplane.jobs.distribution.Distributions.get(system), signals);
      Optional<DeviceEventsIngest> ingest = node.runRegistry()
          ? Optional.of(DeviceEventsIngest.start(system, RegistrySettings.fromConfig(config), kafka))
          : Optional.empty();
      Optional<MqttKafkaBridge> bridge = node.runBridge()
          ? Optional.of(await(MqttKafkaBridge.start(system, BridgeSettings.fromConfig(config), kafka)))
          : Optional.empty();
      Optional<CommandBridge> commands = node.runBridge()
          ? Optional.of(await(CommandBridge.start(system, CommandBridgeSettings.fromConfig(config), kafka)))
          : Optional.empty();

      // Commands over HTTP need Kafka and the database only; the bridge may run elsewhere.
      io.fleetplane.http.commands.DeviceCommands deviceCommands =
          io.fleetplane.http.commands.DeviceCommands.start(system, config, kafka, persistence);
      // Workflow device-command steps send through the same store, topics and replies consumer.
      io.fleetplane.jobs.workflow.WorkflowEngine.get(system).deviceCommands(
          new io.fleetplane.http.commands.WorkflowCommandGateway(system, deviceCommands,
              io.fleetplane.jobs.workflow.WorkflowEngine.get(system).settings().askTimeout()));
      HealthRoutes health = new HealthRoutes(system, persistence, bridge, commands, ingest);
      NodeCanary canary = new NodeCanary(system, config);
      ApiRoutes routes = new ApiRoutes(system, node, health, readSide.queries(), canary.routes(),
          deviceCommands, predicates);
      ServerBinding binding = await(Http.get(system)
          .newServerAt(node.httpHost(), node.httpPort())
          .bind(routes.routes()));
      binding.addToCoordinatedShutdown(Duration.ofSeconds(5), system);
      canary.start(binding.localAddress().getPort());

      CoordinatedShutdown shutdown = CoordinatedShutdown.get(system);
      bridge.ifPresent(b -> shutdown.addTask(CoordinatedShutdown.PhaseBeforeServiceUnbind(), "stop-bridge", b::stop));
      commands.ifPresent(c -> shutdown.addTask(CoordinatedShutdown.PhaseBeforeServiceUnbind(), "stop-command-bridge", c::stop));
      ingest.ifPresent(i -> shutdown.addTask(CoordinatedShutdown.PhaseServiceRequestsDone(), "drain-ingest", i::stop));
      // After the unbind: requests still waiting for replies are answered before the consumer stops.
      shutdown.addTask(CoordinatedShutdown.PhaseServiceRequestsDone(), "stop-command-replies", deviceCommands::stop);
      shutdown.addTask(CoordinatedShutdown.PhaseBeforeServiceUnbind(), "stop-canary-schedule", () -> {
        canary.stop();
        return java.util.concurrent.CompletableFuture.completedFuture(Done.getInstance());
      });

      log.info("Fleetplane node up: HTTP on {}, Kafka {}, database {}, bridge {}",
          binding.localAddress(), kafka.bootstrapServers(), persistence.jdbcUrl(),
          bridge.isPresent() ? "embedded" : "off");
      return new FleetplaneNode(system, binding, bridge, ingest, health);
    } catch (RuntimeException e) {
      system.terminate();
      throw e;
    }
  }

  public int httpPort() {
    return binding.localAddress().getPort();
  }

  public ActorSystem<Void> system() {
    return system;
  }

  public boolean isReady() {
    return health.readiness().ready();
  }

  /** Graceful stop through CoordinatedShutdown; completes when the actor system terminated. */
  public CompletionStage<Done> stop() {
    return CoordinatedShutdown.get(system).runAll(CoordinatedShutdown.unknownReason());
  }

  static <T> T await(CompletionStage<T> stage) {
    try {
      return stage.toCompletableFuture().get(60, TimeUnit.SECONDS);
    } catch (java.util.concurrent.ExecutionException e) {
      Throwable cause = e.getCause();
      throw cause instanceof RuntimeException runtime ? runtime : new IllegalStateException(cause);
    } catch (Exception e) {
      throw new IllegalStateException("Fleetplane node did not start within 60 s: " + e, e);
    }
  }
}
