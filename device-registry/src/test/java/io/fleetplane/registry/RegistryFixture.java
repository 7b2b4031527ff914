package io.fleetplane.registry;

import akka.actor.typed.ActorSystem;
import akka.actor.typed.javadsl.Behaviors;
import akka.cluster.sharding.typed.javadsl.ClusterSharding;
import akka.cluster.typed.Cluster;
import akka.cluster.typed.Join;
import io.fleetplane.config.FleetplaneConfig;
import io.fleetplane.config.KafkaHeaders;
import io.fleetplane.config.KafkaSettings;
import io.fleetplane.persistence.DatabaseMigrations;
import io.fleetplane.persistence.PersistenceSettings;
import io.fleetplane.testkit.infra.EmbeddedKafka;
import io.fleetplane.testkit.infra.PostgresEndpoint;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;

/** A registry node's moving parts on real Kafka and PostgreSQL, without HTTP or the bridge. */
final class RegistryFixture {

  private RegistryFixture() {}

  static Map<String, Object> config(PostgresEndpoint db, EmbeddedKafka kafka, String topic, String group) {
    Map<String, Object> c = new HashMap<>();
    c.put("akka.actor.provider", "cluster");
    c.put("akka.remote.artery.canonical.hostname", "127.0.0.1");
    c.put("akka.remote.artery.canonical.port", 0);
    c.put("akka.cluster.jmx.multi-mbeans-in-same-jvm", "on");
    c.put("akka.loglevel", "WARNING");
    c.put("fleetplane.persistence.jdbc-url", db.jdbcUrl());
    c.put("fleetplane.persistence.user", db.user());
    c.put("fleetplane.persistence.password", db.password());
    c.put("fleetplane.kafka.bootstrap-servers", kafka.bootstrapServers());
    c.put("fleetplane.kafka.topics.device-events", topic);
    c.put("fleetplane.kafka.topics.dead-letters", topic + ".dead-letters");
    c.put("fleetplane.registry.consumer-group-id", group);
    c.put("fleetplane.registry.metrics-interval", "500ms");
    return c;
  }

  static void migrate(PostgresEndpoint db) {
    DatabaseMigrations.migrate(new PersistenceSettings(db.jdbcUrl(), db.user(), db.password(), 4, true,
        Duration.ofSeconds(10)));
  }

  /** A one-node cluster with DeviceSession sharding, ready for an ingest. */
  static ActorSystem<Void> startNode(Map<String, Object> config) {
    ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), "registry-it", FleetplaneConfig.load(config));
    Cluster cluster = Cluster.get(system);
    cluster.manager().tell(Join.create(cluster.selfMember().address()));
    DeviceSession.init(system);
    return system;
  }

  static DeviceEventsIngest startIngest(ActorSystem<?> system) {
    var config = system.settings().config();
    return DeviceEventsIngest.start(system, RegistrySettings.fromConfig(config), KafkaSettings.fromConfig(config));
  }

  /** The node's configuration with another consumer group (a second, independent consumer). */
  static com.typesafe.config.Config startConfig(ActorSystem<?> system, String group) {
    return com.typesafe.config.ConfigFactory.parseMap(Map.of("fleetplane.registry.consumer-group-id", group))
        .withFallback(system.settings().config());
  }

  static void stop(ActorSystem<?> system) throws Exception {
    system.terminate();
    system.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
  }

  static KafkaProducer<String, byte[]> producer(EmbeddedKafka kafka) {
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
    p.put(ProducerConfig.LINGER_MS_CONFIG, "5");
    // One request in flight: a retried batch can never overtake (and be rejected behind) another,
    // which on a loaded machine otherwise ends in OutOfOrderSequenceException and lost test input.
    p.put(ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, "1");
    return new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer());
  }

  /** A record as the bridge writes it: session key, full topic header, receive time. */
  static ProducerRecord<String, byte[]> deviceRecord(String topic, String rae, String session, String channel,
      String json) {
    String key = "fleet/rae/" + rae + "/device/" + session;
    List<Header> headers = List.of(
        new RecordHeader(KafkaHeaders.MQTT_TOPIC, (key + "/" + channel).getBytes(StandardCharsets.UTF_8)),
        new RecordHeader(KafkaHeaders.RECEIVED_AT,
            Long.toString(System.currentTimeMillis()).getBytes(StandardCharsets.UTF_8)));
    return new ProducerRecord<>(topic, null, key, json.getBytes(StandardCharsets.UTF_8), headers);
  }

  static DeviceSession.GetReply get(ActorSystem<?> system, String session) throws Exception {
    return ClusterSharding.get(system).entityRefFor(DeviceSession.ENTITY_TYPE_KEY, session)
        .<DeviceSession.GetReply>ask(DeviceSession.GetSession::new, Duration.ofSeconds(10))
        .toCompletableFuture().get(15, TimeUnit.SECONDS);
  }

  static void await(String what, Duration timeout, BooleanSupplier condition) {
    io.fleetplane.testkit.Eventually.await(timeout, condition, () -> what);
  }
}
