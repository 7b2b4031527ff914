package io.fleetplane.bridge.support;

import akka.actor.typed.ActorSystem;
import akka.actor.typed.javadsl.Behaviors;
import com.typesafe.config.Config;
import io.fleetplane.bridge.BridgeSettings;
import io.fleetplane.bridge.MqttKafkaBridge;
import io.fleetplane.config.FleetplaneConfig;
import io.fleetplane.config.KafkaSettings;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Test configuration for a bridge pointed at a test broker and test topics, with short backoffs
 * and stall timeout so failures show within a test's time, and helpers to run it in-process.
 */
public final class BridgeFixture {

  private BridgeFixture() {}

  public static Map<String, Object> config(String mqttUri, String bootstrap, TestKafka.Topics topics,
      String instanceId) {
    Map<String, Object> c = new HashMap<>();
    c.put("fleetplane.bridge.mqtt.server-uri", mqttUri);
    c.put("fleetplane.bridge.instance-id", instanceId);
    c.put("fleetplane.kafka.bootstrap-servers", bootstrap);
    c.put("fleetplane.kafka.topics.device-events", topics.deviceEvents());
    c.put("fleetplane.kafka.topics.dead-letters", topics.deadLetters());
    c.put("fleetplane.bridge.restart.min-backoff", "200ms");
    c.put("fleetplane.bridge.restart.max-backoff", "2s");
    c.put("fleetplane.bridge.kafka-stall-timeout", "2s");
    c.put("fleetplane.bridge.shutdown-timeout", "10s");
    c.put("fleetplane.bridge.http.enabled", "off");
    c.put("akka.loglevel", "WARNING");
    return c;
  }

  public static ActorSystem<Void> system(String name, Map<String, Object> config) {
    return ActorSystem.create(Behaviors.empty(), name, FleetplaneConfig.load(config));
  }

  /** Launches a bridge from the system's config and waits until it is connected and subscribed. */
  public static MqttKafkaBridge launch(ActorSystem<?> system, Map<String, Object> overrides) {
    Config config = FleetplaneConfig.load(overrides).withFallback(system.settings().config());
    MqttKafkaBridge bridge = MqttKafkaBridge.launch(system, BridgeSettings.fromConfig(config),
        KafkaSettings.fromConfig(config));
    try {
      bridge.whenConnected().toCompletableFuture().get(30, TimeUnit.SECONDS);
    } catch (Exception e) {
      throw new IllegalStateException("bridge did not connect: " + bridge.health().detail(), e);
    }
    return bridge;
  }

  public static void stop(MqttKafkaBridge bridge) {
    if (bridge != null) {
      bridge.stop().toCompletableFuture().orTimeout(30, TimeUnit.SECONDS).join();
    }
  }

  public static void terminate(ActorSystem<?> system) {
    if (system != null) {
      system.terminate();
      system.getWhenTerminated().toCompletableFuture().orTimeout(30, TimeUnit.SECONDS).join();
    }
  }

  /** A device payload in the protocol's form, with a sequence number the tests check order by. */
  public static String payload(long seq, int padTo) {
    String base = "{\"version\":1,\"ts\":" + System.currentTimeMillis() + ",\"seq\":" + seq
        + ",\"attributes\":{\"pad\":\"";
    StringBuilder b = new StringBuilder(base);
    while (b.length() < padTo - 3) {
      b.append('x');
    }
    return b.append("\"}}").toString();
  }

  public static Duration since(long startNanos) {
    return Duration.ofNanos(System.nanoTime() - startNanos);
  }
}
