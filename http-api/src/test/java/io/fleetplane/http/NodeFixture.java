package io.fleetplane.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fleetplane.config.FleetplaneConfig;
import io.fleetplane.config.KafkaSettings;
import io.fleetplane.testkit.infra.EmbeddedKafka;
import io.fleetplane.testkit.infra.PostgresEndpoint;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.function.Predicate;
import org.eclipse.paho.mqttv5.client.MqttClient;
import org.eclipse.paho.mqttv5.client.MqttConnectionOptions;
import org.eclipse.paho.mqttv5.client.persist.MemoryPersistence;
import org.eclipse.paho.mqttv5.common.MqttMessage;

/** Shared plumbing for node ITs: real Kafka, a real broker, a real database, real HTTP. */
final class NodeFixture {

  static final ObjectMapper JSON = new ObjectMapper();
  static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

  private NodeFixture() {}

  static EmbeddedKafka startKafka() throws IOException {
    Path dir = Files.createTempDirectory("fp-kafka-");
    EmbeddedKafka kafka = EmbeddedKafka.start(0, dir);
    KafkaSettings defaults = KafkaSettings.fromConfig(FleetplaneConfig.load());
    kafka.createTopics(4, defaults.deviceEventsTopic());
    kafka.createTopics(1, defaults.deadLettersTopic());
    var commands = io.fleetplane.bridge.command.CommandBridgeSettings.fromConfig(FleetplaneConfig.load());
    kafka.createTopics(2, commands.commandsTopic(), commands.repliesTopic());
    kafka.createTopics(2, io.fleetplane.jobs.distribution.DistributionSettings.fromConfig(FleetplaneConfig.load())
        .push().topic());
    return kafka;
  }

  static Map<String, Object> nodeConfig(PostgresEndpoint db, String kafka, String mqttUri, String instance) {
    Map<String, Object> c = new HashMap<>();
    c.put("fleetplane.persistence.jdbc-url", db.jdbcUrl());
    c.put("fleetplane.persistence.user", db.user());
    c.put("fleetplane.persistence.password", db.password());
    c.put("fleetplane.kafka.bootstrap-servers", kafka);
    c.put("fleetplane.bridge.mqtt.server-uri", mqttUri);
    c.put("fleetplane.bridge.instance-id", instance);
    c.put("fleetplane.registry.consumer-group-id", "registry-" + instance);
    c.put("fleetplane.node.http.port", 0);
    c.put("fleetplane.node.metrics.kamon-agent", true);
    c.put("akka.remote.artery.canonical.port", 0);
    c.put("kamon.metric.tick-interval", "1 second");
    c.putAll(TestTokens.config());
    return c;
  }

  static FleetplaneNode startNode(Map<String, Object> config) {
    return FleetplaneNode.start(FleetplaneConfig.load(config));
  }

  static void publish(String mqttUri, String topic, String payload) throws Exception {
    MqttClient client = new MqttClient(mqttUri, "it-publisher-" + System.nanoTime(), new MemoryPersistence());
    MqttConnectionOptions options = new MqttConnectionOptions();
    options.setCleanStart(true);
    client.connect(options);
    try {
      MqttMessage message = new MqttMessage(payload.getBytes(StandardCharsets.UTF_8));
      message.setQos(1);
      client.publish(topic, message);
    } finally {
      client.disconnect();
      client.close();
    }
  }

  /** GET with an admin token (every scope, every RAE). */
  static HttpResponse<String> get(int port, String path) throws IOException, InterruptedException {
    return get(port, path, TestTokens.admin());
  }

  /** GET with this bearer token, or none when null. */
  static HttpResponse<String> get(int port, String path, String token) throws IOException, InterruptedException {
    HttpRequest.Builder request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
        .timeout(Duration.ofSeconds(10)).GET();
    if (token != null) {
      request.header("Authorization", "Bearer " + token);
    }
    return HTTP.send(request.build(), HttpResponse.BodyHandlers.ofString());
  }

  static JsonNode json(HttpResponse<String> response) throws IOException {
    return JSON.readTree(response.body());
  }

  /** Polls until the response satisfies the condition, failing with the last response seen. */
  static HttpResponse<String> awaitResponse(int port, String path, Predicate<HttpResponse<String>> condition,
      Duration timeout) {
    return awaitResponse(port, path, TestTokens.admin(), condition, timeout);
  }

  /** The same with this bearer token. */
  static HttpResponse<String> awaitResponse(int port, String path, String token,
      Predicate<HttpResponse<String>> condition, Duration timeout) {
    java.util.concurrent.atomic.AtomicReference<HttpResponse<String>> last = new java.util.concurrent.atomic.AtomicReference<>();
    io.fleetplane.testkit.Eventually.await(timeout, () -> {
      try {
        last.set(get(port, path, token));
      } catch (IOException e) {
        return false; // not listening yet: not there yet
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new AssertionError("interrupted", e);
      }
      return condition.test(last.get());
    }, () -> "GET " + path + " reaching the expected state; last: "
        + (last.get() == null ? "none" : last.get().statusCode() + " " + last.get().body()));
    return last.get();
  }


  /** Stops what a node test class started, each part only if it got that far. */
  static void stopAll(FleetplaneNode node, EmbeddedKafka kafka, PostgresEndpoint db) throws Exception {
    if (node != null) {
      node.stop().toCompletableFuture().get();
    }
    if (kafka != null) {
      kafka.close();
    }
    if (db != null) {
      io.fleetplane.testkit.infra.TestPostgres.dropSchema(db);
    }
  }
}
