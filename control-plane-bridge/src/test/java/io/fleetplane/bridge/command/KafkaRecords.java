package io.fleetplane.bridge.command;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;

/** Everything on one topic from the beginning, read by the test thread (no consumer group). */
final class KafkaRecords implements AutoCloseable {

  private final String topic;
  private final KafkaConsumer<String, byte[]> consumer;
  private final List<ConsumerRecord<String, byte[]>> seen = new ArrayList<>();

  KafkaRecords(String bootstrapServers, String topic) {
    this.topic = topic;
    this.consumer = new KafkaConsumer<>(Map.of(
        ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers,
        ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false",
        ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed"),
        new StringDeserializer(), new ByteArrayDeserializer());
    List<TopicPartition> partitions = consumer.partitionsFor(topic, Duration.ofSeconds(10)).stream()
        .map(p -> new TopicPartition(topic, p.partition())).toList();
    consumer.assign(partitions);
    consumer.seekToBeginning(partitions);
  }

  /** Polls until a record matches; fails with what was seen after {@code timeout}. */
  ConsumerRecord<String, byte[]> await(Predicate<ConsumerRecord<String, byte[]>> which,
      Duration timeout, String what) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (true) {
      for (ConsumerRecord<String, byte[]> r : seen) {
        if (which.test(r)) {
          return r;
        }
      }
      if (System.nanoTime() > deadline) {
        throw new AssertionError("No record on " + topic + " within " + timeout + ": " + what
            + ". Seen: " + seen.stream().map(KafkaRecords::describe).toList());
      }
      consumer.poll(Duration.ofMillis(100)).forEach(seen::add);
    }
  }

  /** What has arrived so far that matches (polls once, briefly). */
  List<ConsumerRecord<String, byte[]>> matching(Predicate<ConsumerRecord<String, byte[]>> which) {
    consumer.poll(Duration.ofMillis(200)).forEach(seen::add);
    return seen.stream().filter(which).toList();
  }

  static String header(ConsumerRecord<?, ?> record, String key) {
    Header h = record.headers().lastHeader(key);
    return h == null ? null : new String(h.value(), StandardCharsets.UTF_8);
  }

  private static String describe(ConsumerRecord<String, byte[]> r) {
    String value = r.value() == null ? "null" : new String(r.value(), StandardCharsets.UTF_8);
    return r.key() + " -> " + (value.length() > 300 ? value.substring(0, 300) + "..." : value);
  }

  @Override
  public void close() {
    consumer.close(Duration.ofSeconds(2));
  }
}
