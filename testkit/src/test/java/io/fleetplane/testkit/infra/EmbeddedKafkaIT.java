package io.fleetplane.testkit.infra;

import io.fleetplane.testkit.Eventually;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.Future;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EmbeddedKafkaIT {

  private static final String TOPIC = "fleet.device-events";
  private static final int RECORDS = 100;

  @TempDir
  Path tmp;

  @Test
  void keepsRecordsAcrossRestartAndAcrossCloseAndStartOnTheSameDir() throws Exception {
    Path logDir = tmp.resolve("kafka");
    Map<String, String> sent = new HashMap<>();
    int port;
    int controllerPort;
    try (EmbeddedKafka kafka = EmbeddedKafka.start(0, logDir)) {
      port = kafka.port();
      controllerPort = kafka.controllerPort();
      assertEquals("127.0.0.1:" + port, kafka.bootstrapServers());
      LoopbackOnly.assertLoopbackOnly(kafka.port());
      LoopbackOnly.assertLoopbackOnly(kafka.controllerPort());
      kafka.createTopics(4, TOPIC);

      Set<Integer> partitionsUsed = new HashSet<>();
      try (KafkaProducer<String, String> producer = producer(kafka)) {
        List<Future<RecordMetadata>> acks = new java.util.ArrayList<>();
        for (int i = 0; i < RECORDS; i++) {
          String key = "device-" + i;
          String value = "state-" + i;
          sent.put(key, value);
          acks.add(producer.send(new ProducerRecord<>(TOPIC, key, value)));
        }
        for (Future<RecordMetadata> ack : acks) {
          partitionsUsed.add(ack.get().partition());
        }
      }
      assertEquals(Set.of(0, 1, 2, 3), partitionsUsed, "keys should spread over all 4 partitions");
      assertEquals(sent, consumeAll(kafka, RECORDS));

      kafka.stop();
      assertFalse(kafka.isRunning());
      assertTrue(FreePorts.isFree(port), "after stop() nothing may listen on " + port);

      kafka.restart();
      assertEquals(port, kafka.port());
      assertEquals(controllerPort, kafka.controllerPort());
      assertEquals(sent, consumeAll(kafka, RECORDS), "records after restart()");
    }
    assertTrue(FreePorts.isFree(port), "after close() nothing may listen on " + port);

    try (EmbeddedKafka again = EmbeddedKafka.start(port, logDir)) {
      assertEquals(controllerPort, again.controllerPort(), "remembered in the log dir");
      assertEquals(sent, consumeAll(again, RECORDS), "records after a new start on the same dir");
      assertEquals(4, partitionCount(again, TOPIC));
    }

    // Another process took the remembered controller port: the controller moves, data stays.
    try (ServerSocket squatter = new ServerSocket()) {
      squatter.bind(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), controllerPort));
      try (EmbeddedKafka moved = EmbeddedKafka.start(port, logDir)) {
        assertNotEquals(controllerPort, moved.controllerPort());
        assertEquals(sent, consumeAll(moved, RECORDS), "records after the controller moved");
      }
    }
  }

  @Test
  void createTopicsIsIdempotentAndAutoCreatedTopicsGetTheDefaultPartitions() throws Exception {
    try (EmbeddedKafka kafka = EmbeddedKafka.start(FreePorts.next(), tmp.resolve("kafka"), 3)) {
      kafka.createTopics(2, "jobs.commands", "jobs.events");
      kafka.createTopics(2, "jobs.commands"); // already there: no error, unchanged
      assertEquals(2, partitionCount(kafka, "jobs.commands"));
      assertEquals(2, partitionCount(kafka, "jobs.events"));

      try (KafkaProducer<String, String> producer = producer(kafka)) {
        producer.send(new ProducerRecord<>("auto.created", "k", "v")).get();
      }
      assertEquals(3, partitionCount(kafka, "auto.created"));
    }
  }

  @Test
  void aTakenPortIsReportedWithWhatToDo() throws Exception {
    try (ServerSocket taken = new ServerSocket()) {
      taken.bind(new InetSocketAddress(InetAddress.getByName("127.0.0.1"), FreePorts.next()));
      PortInUseException e = assertThrows(PortInUseException.class,
          () -> EmbeddedKafka.start(taken.getLocalPort(), tmp.resolve("kafka")));
      assertEquals(taken.getLocalPort(), e.port());
      assertTrue(e.getMessage().contains(String.valueOf(taken.getLocalPort())), e.getMessage());
      assertTrue(e.getMessage().contains("0 for a free one"), e.getMessage());
    }
  }

  private static KafkaProducer<String, String> producer(EmbeddedKafka kafka) {
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
    p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "30000");
    return new KafkaProducer<>(p, new StringSerializer(), new StringSerializer());
  }

  /** Reads the topic from the beginning in a new consumer group until {@code expected} records arrived. */
  private static Map<String, String> consumeAll(EmbeddedKafka kafka, int expected) {
    Properties p = new Properties();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
    p.put(ConsumerConfig.GROUP_ID_CONFIG, "it-" + UUID.randomUUID());
    p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    Map<String, String> received = new HashMap<>();
    try (KafkaConsumer<String, String> consumer =
             new KafkaConsumer<>(p, new StringDeserializer(), new StringDeserializer())) {
      consumer.subscribe(List.of(TOPIC));
      Eventually.await(Duration.ofSeconds(30), () -> {
        for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(200))) {
          received.put(r.key(), r.value());
        }
        return received.size() >= expected;
      }, () -> expected + " records from " + TOPIC + ", got " + received.size());
    }
    return received;
  }

  private static int partitionCount(EmbeddedKafka kafka, String topic) throws Exception {
    Properties p = new Properties();
    p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
    try (Admin admin = Admin.create(p)) {
      return admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic).partitions().size();
    }
  }
}
