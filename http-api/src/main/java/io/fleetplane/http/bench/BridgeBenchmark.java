package io.fleetplane.http.bench;

import akka.actor.typed.ActorSystem;
import akka.actor.typed.javadsl.Behaviors;
import io.fleetplane.bridge.BridgeSettings;
import io.fleetplane.bridge.MqttKafkaBridge;
import io.fleetplane.config.FleetplaneConfig;
import io.fleetplane.config.KafkaSettings;
import io.fleetplane.testkit.infra.EmbeddedKafka;
import io.fleetplane.testkit.infra.MosquittoBroker;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.eclipse.paho.mqttv5.client.IMqttToken;
import org.eclipse.paho.mqttv5.client.MqttAsyncClient;
import org.eclipse.paho.mqttv5.client.MqttCallback;
import org.eclipse.paho.mqttv5.client.MqttConnectionOptions;
import org.eclipse.paho.mqttv5.client.MqttDisconnectResponse;
import org.eclipse.paho.mqttv5.client.persist.MemoryPersistence;
import org.eclipse.paho.mqttv5.common.MqttException;
import org.eclipse.paho.mqttv5.common.MqttMessage;
import org.eclipse.paho.mqttv5.common.packet.MqttProperties;

/**
 * The bridge benchmark (issue 3): MQTT QoS 1 -> bridge -> Kafka, against the same Mosquitto
 * carrying the same messages from publisher to subscriber with no bridge at all (the ceiling).
 *
 * <p>Latency is measured from the publisher's send to the record being read from Kafka by a
 * consumer in the same JVM (send time travels in the payload), so it includes Kafka's fetch and
 * is an upper bound of publish -> Kafka acknowledgement.
 */
public final class BridgeBenchmark {

  /** One measured run of one scenario. */
  public record Run(String scenario, int messages, double messagesPerSecond, double p50Millis,
      double p99Millis, double maxMillis, long lost) {}

  private final int messages;
  private final int payloadBytes;
  private final int publishers;
  private final int sessions = 50;
  /** Messages sent on a fresh topic before measuring (see {@link #bridge}). */
  public static final int WARM_UP_MESSAGES = 500;

  public BridgeBenchmark(int messages, int payloadBytes, int publishers) {
    this.messages = messages;
    this.payloadBytes = payloadBytes;
    this.publishers = publishers;
  }

  /** Mosquitto alone: publishers -> broker -> one QoS 1 subscriber. */
  public Run mosquittoCeiling(MosquittoBroker broker) throws Exception {
    Latencies latencies = new Latencies(messages);
    CountDownLatch all = new CountDownLatch(messages);
    AtomicLong lastArrival = new AtomicLong();
    MqttAsyncClient subscriber = new MqttAsyncClient(broker.serverUri(), "bench-sub-" + System.nanoTime(),
        new MemoryPersistence());
    subscriber.setCallback(new Arrivals((payload) -> {
      long now = System.nanoTime();
      latencies.add(now - Publishers.sentNanos(payload));
      lastArrival.set(now);
      all.countDown();
    }));
    MqttConnectionOptions options = new MqttConnectionOptions();
    options.setCleanStart(true);
    options.setReceiveMaximum(1000);
    subscriber.connect(options).waitForCompletion(10_000);
    subscriber.subscribe("bench/#", 1).waitForCompletion(10_000);
    try (Publishers pub = new Publishers(broker.serverUri(), publishers, 100, payloadBytes)) {
      long start = System.nanoTime();
      for (int i = 0; i < messages; i++) {
        pub.publish("bench/" + (i % sessions), i % sessions, i);
      }
      boolean complete = all.await(120, TimeUnit.SECONDS);
      return run("mosquitto alone (ceiling)", start, lastArrival.get(), latencies, complete ? 0 : all.getCount());
    } finally {
      subscriber.disconnect().waitForCompletion(5_000);
      subscriber.close();
    }
  }

  /** Publishers -> broker -> bridge -> Kafka, as fast as the window allows ({@code rate} 0) or paced. */
  public Run bridge(MosquittoBroker broker, EmbeddedKafka kafka, int rate) throws Exception {
    String topic = "bench-device-events-" + UUID.randomUUID().toString().substring(0, 8);
    kafka.createTopics(8, topic);
    String instance = "bench-" + UUID.randomUUID().toString().substring(0, 8);
    ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), "bench", FleetplaneConfig.load(Map.of(
        "akka.actor.provider", "local",
        "akka.loglevel", "WARNING",
        "fleetplane.bridge.mqtt.server-uri", broker.serverUri(),
        "fleetplane.bridge.instance-id", instance)));
    KafkaSettings kafkaSettings = new KafkaSettings(kafka.bootstrapServers(), Map.of(), topic, topic + "-dead", 8);
    int count = rate > 0 ? rate * 10 : messages;
    // The first messages on a new topic wait for the producer's metadata fetch and the consumer's
    // first fetch: a one-time cost, not the steady state the scenario measures. They are sent
    // (paced like the rest) but not counted.
    int warm = WARM_UP_MESSAGES;
    try (KafkaArrivals arrivals = new KafkaArrivals(kafka.bootstrapServers(), topic, count, warm)) {
      MqttKafkaBridge bridge = MqttKafkaBridge.start(system, BridgeSettings.fromConfig(system.settings().config()),
          kafkaSettings).toCompletableFuture().get(30, TimeUnit.SECONDS);
      String[] topics = new String[sessions];
      for (int s = 0; s < sessions; s++) {
        topics[s] = "fleet/rae/BENCH/device/" + UUID.randomUUID() + "/update";
      }
      try (Publishers pub = new Publishers(broker.serverUri(), publishers, 100, payloadBytes)) {
        long interval = rate > 0 ? TimeUnit.SECONDS.toNanos(1) / rate : TimeUnit.SECONDS.toNanos(1) / 1000;
        long warmStart = System.nanoTime();
        for (int i = 0; i < warm; i++) {
          Publishers.paceUntil(warmStart + i * interval);
          pub.publish(topics[i % sessions], i % sessions, -1 - i);
        }
        arrivals.awaitWarmUp(Duration.ofSeconds(60));
        long start = System.nanoTime();
        interval = rate > 0 ? interval : 0;
        for (int i = 0; i < count; i++) {
          if (interval > 0) {
            Publishers.paceUntil(start + i * interval);
          }
          pub.publish(topics[i % sessions], i % sessions, i);
        }
        boolean complete = arrivals.await(Duration.ofSeconds(120));
        String name = rate > 0 ? "bridge at " + rate + " msg/s" : "bridge (max rate)";
        return run(name, start, arrivals.lastArrival(), arrivals.latencies(), complete ? 0 : arrivals.missing());
      } finally {
        bridge.stop().toCompletableFuture().get(30, TimeUnit.SECONDS);
      }
    } finally {
      system.terminate();
      system.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
    }
  }

  private Run run(String name, long start, long lastArrival, Latencies latencies, long lost) {
    double seconds = (lastArrival - start) / 1e9;
    return new Run(name, latencies.size(), latencies.size() / seconds, latencies.percentileMillis(0.50),
        latencies.percentileMillis(0.99), latencies.percentileMillis(1.0), lost);
  }

  /** Starts a Mosquitto for benchmarks: deep queues and windows so the broker is not the limit. */
  public static MosquittoBroker startBroker() {
    return MosquittoBroker.builder()
        .configLine("max_inflight_messages 1000")
        .configLine("max_queued_messages 200000")
        .start();
  }

  public static EmbeddedKafka startKafka() throws Exception {
    return EmbeddedKafka.start(0, Files.createTempDirectory("fp-bench-kafka-"));
  }

  static final class Arrivals implements MqttCallback {
    private final java.util.function.Consumer<byte[]> onPayload;

    Arrivals(java.util.function.Consumer<byte[]> onPayload) {
      this.onPayload = onPayload;
    }

    @Override
    public void messageArrived(String topic, MqttMessage message) {
      onPayload.accept(message.getPayload());
    }

    @Override
    public void disconnected(MqttDisconnectResponse response) {}

    @Override
    public void mqttErrorOccurred(MqttException exception) {}

    @Override
    public void deliveryComplete(IMqttToken token) {}

    @Override
    public void connectComplete(boolean reconnect, String serverUri) {}

    @Override
    public void authPacketArrived(int reasonCode, MqttProperties properties) {}
  }

  /** Reads a topic from the beginning on its own thread, recording when each record shows up. */
  private static final class KafkaArrivals implements AutoCloseable {
    private final Latencies latencies;
    private final CountDownLatch all;
    private final CountDownLatch warmedUp;
    private final AtomicLong lastArrival = new AtomicLong();
    private final Thread thread;
    private volatile boolean running = true;

    KafkaArrivals(String bootstrap, String topic, int expected, int warmUp) {
      this.latencies = new Latencies(expected);
      this.all = new CountDownLatch(expected);
      this.warmedUp = new CountDownLatch(warmUp);
      Properties p = new Properties();
      p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
      p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
      p.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, "5");
      KafkaConsumer<String, byte[]> consumer =
          new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer());
      List<TopicPartition> partitions = new ArrayList<>();
      consumer.partitionsFor(topic).forEach(info -> partitions.add(new TopicPartition(topic, info.partition())));
      consumer.assign(partitions);
      consumer.seekToBeginning(partitions);
      thread = new Thread(() -> {
        try (consumer) {
          while (running && all.getCount() > 0) {
            for (ConsumerRecord<String, byte[]> record : consumer.poll(Duration.ofMillis(20))) {
              long now = System.nanoTime();
              long sent = Publishers.sentNanos(record.value());
              if (sent <= 0) {
                continue;
              }
              if (Publishers.sequence(record.value()) < 0) {
                warmedUp.countDown();
              } else {
                latencies.add(now - sent);
                lastArrival.set(now);
                all.countDown();
              }
            }
          }
        }
      }, "bench-kafka-arrivals");
      thread.start();
    }

    void awaitWarmUp(Duration timeout) throws InterruptedException {
      if (!warmedUp.await(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
        throw new IllegalStateException("warm-up messages did not all reach Kafka within " + timeout);
      }
    }

    boolean await(Duration timeout) throws InterruptedException {
      return all.await(timeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    long missing() {
      return all.getCount();
    }

    long lastArrival() {
      return lastArrival.get();
    }

    Latencies latencies() {
      return latencies;
    }

    @Override
    public void close() throws InterruptedException {
      running = false;
      thread.join(5_000);
    }
  }
}
