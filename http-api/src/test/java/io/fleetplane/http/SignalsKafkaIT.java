package io.fleetplane.http;

import static org.junit.jupiter.api.Assertions.assertEquals;

import akka.actor.typed.ActorSystem;
import akka.actor.typed.javadsl.Behaviors;
import akka.cluster.typed.Cluster;
import akka.cluster.typed.Join;
import io.fleetplane.config.FleetplaneConfig;
import io.fleetplane.config.KafkaSettings;
import io.fleetplane.config.metrics.Metrics;
import io.fleetplane.jobs.workflow.WorkflowEngine;
import io.fleetplane.jobs.workflow.signal.WorkflowSignals;
import io.fleetplane.persistence.DatabaseMigrations;
import io.fleetplane.persistence.PersistenceSettings;
import io.fleetplane.testkit.Eventually;
import io.fleetplane.testkit.infra.EmbeddedKafka;
import io.fleetplane.testkit.infra.PostgresEndpoint;
import io.fleetplane.testkit.infra.TestPostgres;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

/**
 * Signals from the real in-process Kafka topic: a signal delivered three times (as a redelivery
 * would) starts one instance, a record without an id is identified by its offset, and records that
 * are not signals are counted and skipped without stopping the consumer.
 */
class SignalsKafkaIT {

  @Test
  void redeliveredSignalsStartOneInstanceAndBadRecordsDoNotStopTheTopic() throws Exception {
    PostgresEndpoint db = TestPostgres.newSchema();
    DatabaseMigrations.migrate(new PersistenceSettings(db.jdbcUrl(), db.user(), db.password(), 4, true,
        Duration.ofSeconds(10)));
    EmbeddedKafka kafka = NodeFixture.startKafka();
    ActorSystem<Void> system = null;
    try {
      kafka.createTopics(1, "fleet.signals");
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
      var config = FleetplaneConfig.load(c);
      system = ActorSystem.create(Behaviors.empty(), "signals-kafka-it", config);
      Cluster.get(system).manager().tell(Join.create(Cluster.get(system).selfMember().address()));
      WorkflowEngine engine = WorkflowEngine.start(system);
      WorkflowSignals signals = WorkflowSignals.start(system);
      engine.store().create("""
          id: on-landing
          owner: it
          params: {table: none}
          steps:
            - {id: a, type: noop, params: {t: "${params.table}"}}
          """, Optional.of("it")).toCompletableFuture().get(20, TimeUnit.SECONDS);
      signals.subscribe("on-landing", "table-landed", "", Map.of("table",
          com.fasterxml.jackson.databind.node.TextNode.valueOf("${params.table}")))
          .toCompletableFuture().get(20, TimeUnit.SECONDS);
      SignalsKafkaSource source = SignalsKafkaSource.start(system, signals, KafkaSettings.fromConfig(config),
          SignalsKafkaSource.Settings.fromConfig(config));

      long rejectedBefore = Metrics.count("fleetplane_workflows_signals_rejected", Map.of("reason", "malformed"))
          + Metrics.count("fleetplane_workflows_signals_rejected", Map.of("reason", "invalid"));
      String withId = "{\"type\": \"signal\", \"version\": 1, \"signalId\": \"orders-1\", \"name\": \"table-landed\","
          + " \"params\": {\"table\": \"orders\"}}";
      String withoutId = "{\"type\": \"signal\", \"version\": 1, \"name\": \"table-landed\","
          + " \"params\": {\"table\": \"users\"}}";
      Properties p = new Properties();
      p.put("bootstrap.servers", kafka.bootstrapServers());
      try (KafkaProducer<String, String> producer = new KafkaProducer<>(p, new StringSerializer(),
          new StringSerializer())) {
        for (String value : List.of(withId, "not json", withId, "{\"type\": \"signal\", \"version\": 1, \"name\": 7}",
            withId, withoutId)) {
          producer.send(new ProducerRecord<>("fleet.signals", "k", value)).get(10, TimeUnit.SECONDS);
        }
      }
      Eventually.await(Duration.ofSeconds(60), () -> instances(db) == 2, () -> "two instances, have " + instances(db));
      Eventually.await(Duration.ofSeconds(10), () -> Metrics.count("fleetplane_workflows_signals_rejected",
              Map.of("reason", "malformed")) + Metrics.count("fleetplane_workflows_signals_rejected",
              Map.of("reason", "invalid")) == rejectedBefore + 2, () -> "two records rejected");
      var orders = signals.get("orders-1").toCompletableFuture().get(10, TimeUnit.SECONDS);
      assertEquals("kafka", orders.signal().source());
      assertEquals(1, orders.triggered().size(), "three deliveries of orders-1, one instance");
      source.stop().toCompletableFuture().get(10, TimeUnit.SECONDS);
      assertEquals(2, instances(db), "orders-1 once, the id-less users signal once");
    } finally {
      if (system != null) {
        system.terminate();
        system.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
      }
      kafka.close();
      TestPostgres.dropSchema(db);
    }
  }

  private static int instances(PostgresEndpoint db) {
    try (Connection c = DriverManager.getConnection(db.jdbcUrl(), db.user(), db.password());
        Statement st = c.createStatement();
        ResultSet rs = st.executeQuery("SELECT COUNT(DISTINCT persistence_id) FROM event_journal"
            + " WHERE persistence_id LIKE 'WorkflowInstance|%'")) {
      rs.next();
      return rs.getInt(1);
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }
}
