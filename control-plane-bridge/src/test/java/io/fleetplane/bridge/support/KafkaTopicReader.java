package io.fleetplane.bridge.support;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * Reads every record of one topic from the beginning on a background thread, so a test can wait
 * for what arrived. Assigns all partitions itself (no consumer group), and keeps polling through
 * broker outages.
 */
public final class KafkaTopicReader implements AutoCloseable {

  /** One record as the test sees it. */
  public record Received(String key, byte[] value, Map<String, String> headers, int partition, long offset) {
    public String text() {
      return new String(value, StandardCharsets.UTF_8);
    }

    public String header(String name) {
      return headers.get(name);
    }
  }

  private final KafkaConsumer<String, byte[]> consumer;
  private final List<Received> received = new CopyOnWriteArrayList<>();
  private final Thread thread;
  private volatile boolean running = true;

  private KafkaTopicReader(String bootstrap, String topic) {
    Properties p = new Properties();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ConsumerConfig.CLIENT_ID_CONFIG, "it-reader-" + UUID.randomUUID());
    p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_uncommitted");
    consumer = new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer());
    List<TopicPartition> partitions = consumer.partitionsFor(topic, Duration.ofSeconds(30)).stream()
        .map(info -> new TopicPartition(topic, info.partition()))
        .toList();
    consumer.assign(partitions);
    consumer.seekToBeginning(partitions);
    thread = new Thread(this::run, "it-reader-" + topic);
    thread.setDaemon(true);
    thread.start();
  }

  /** Starts reading {@code topic} (which must exist) from its beginning. */
  public static KafkaTopicReader start(String bootstrap, String topic) {
    return new KafkaTopicReader(bootstrap, topic);
  }

  private void run() {
    try {
      while (running) {
        for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(200))) {
          Map<String, String> headers = new HashMap<>();
          for (Header h : r.headers()) {
            headers.put(h.key(), new String(h.value(), StandardCharsets.UTF_8));
          }
          received.add(new Received(r.key(), r.value(), headers, r.partition(), r.offset()));
        }
      }
    } catch (WakeupException e) {
      // closing
    } finally {
      consumer.close(Duration.ofSeconds(2));
    }
  }

  public int count() {
    return received.size();
  }

  public List<Received> records() {
    return new ArrayList<>(received);
  }

  @Override
  public void close() {
    running = false;
    consumer.wakeup();
    try {
      thread.join(5_000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
