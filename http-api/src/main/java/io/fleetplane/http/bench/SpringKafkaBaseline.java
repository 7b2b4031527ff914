package io.fleetplane.http.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.zaxxer.hikari.HikariDataSource;
import io.fleetplane.config.ids.DeviceTopic;
import io.fleetplane.registry.domain.DeviceMessage;
import io.fleetplane.registry.domain.DevicePayloadParser;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.springframework.context.annotation.AnnotationConfigApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.core.env.MapPropertySource;
import org.springframework.kafka.annotation.EnableKafka;
import org.springframework.kafka.annotation.KafkaListener;
import org.springframework.kafka.config.ConcurrentKafkaListenerContainerFactory;
import org.springframework.kafka.core.DefaultKafkaConsumerFactory;

/**
 * The ingestion baseline: the "before" of Netflix's registry, a spring-kafka {@code @KafkaListener}
 * consumer that, for every record, does the same validation as Fleetplane and persists the same
 * facts (the event and the merged session state) in one PostgreSQL transaction. One listener
 * thread per partition, offsets committed after each poll's batch (spring-kafka's default).
 */
final class SpringKafkaBaseline implements AutoCloseable {

  static final AtomicLong PROCESSED = new AtomicLong();
  private static volatile HikariDataSource dataSource;

  private final AnnotationConfigApplicationContext context;

  SpringKafkaBaseline(String bootstrap, String topic, int concurrency, HikariDataSource db) throws SQLException {
    dataSource = db;
    try (Connection c = db.getConnection()) {
      c.createStatement().execute("CREATE TABLE IF NOT EXISTS bench_baseline_event (id BIGSERIAL PRIMARY KEY,"
          + " session_id UUID NOT NULL, kafka_partition INT NOT NULL, kafka_offset BIGINT NOT NULL, payload BYTEA NOT NULL)");
      c.createStatement().execute("CREATE TABLE IF NOT EXISTS bench_baseline_state (session_id UUID PRIMARY KEY,"
          + " rae_serial TEXT NOT NULL, attributes JSONB NOT NULL, last_ts BIGINT NOT NULL)");
    }
    context = new AnnotationConfigApplicationContext();
    context.getEnvironment().getPropertySources().addFirst(new MapPropertySource("bench", Map.of(
        "bench.bootstrap", bootstrap, "bench.topic", topic, "bench.concurrency", Integer.toString(concurrency))));
    context.register(ListenerConfig.class);
    context.refresh();
  }

  @Override
  public void close() {
    context.close();
  }

  @Configuration
  @EnableKafka
  static class ListenerConfig {
    @Bean
    ConcurrentKafkaListenerContainerFactory<String, byte[]> kafkaListenerContainerFactory(
        org.springframework.core.env.Environment env) {
      var factory = new ConcurrentKafkaListenerContainerFactory<String, byte[]>();
      factory.setConsumerFactory(new DefaultKafkaConsumerFactory<>(Map.of(
          ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, env.getRequiredProperty("bench.bootstrap"),
          ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest",
          ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false),
          new StringDeserializer(), new ByteArrayDeserializer()));
      return factory;
    }

    @Bean
    Listener listener() {
      return new Listener();
    }
  }

  static class Listener {
    private final DevicePayloadParser parser = new DevicePayloadParser(new ObjectMapper());

    @KafkaListener(topics = "${bench.topic}", groupId = "bench-spring-baseline", concurrency = "${bench.concurrency}")
    public void onRecord(ConsumerRecord<String, byte[]> record) throws SQLException {
      String mqttTopic = new String(record.headers().lastHeader("mqtt-topic").value(), StandardCharsets.UTF_8);
      DeviceTopic topic = DeviceTopic.parse(mqttTopic);
      DeviceMessage message = parser.parse(topic.channel(), record.value());
      String attributes;
      try {
        attributes = new ObjectMapper().writeValueAsString(message.attributes());
      } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
        throw new IllegalStateException(e);
      }
      try (Connection c = dataSource.getConnection()) {
        c.setAutoCommit(false);
        try (PreparedStatement event = c.prepareStatement("INSERT INTO bench_baseline_event"
                + " (session_id, kafka_partition, kafka_offset, payload) VALUES (?::uuid, ?, ?, ?)");
            PreparedStatement state = c.prepareStatement("INSERT INTO bench_baseline_state AS s"
                + " (session_id, rae_serial, attributes, last_ts) VALUES (?::uuid, ?, ?::jsonb, ?)"
                + " ON CONFLICT (session_id) DO UPDATE SET attributes = s.attributes || EXCLUDED.attributes,"
                + " last_ts = EXCLUDED.last_ts WHERE s.last_ts <= EXCLUDED.last_ts")) {
          event.setString(1, topic.deviceSessionId().value());
          event.setInt(2, record.partition());
          event.setLong(3, record.offset());
          event.setBytes(4, record.value());
          event.executeUpdate();
          state.setString(1, topic.deviceSessionId().value());
          state.setString(2, topic.raeSerial().value());
          state.setString(3, attributes);
          state.setLong(4, message.deviceTimestampMillis());
          state.executeUpdate();
          c.commit();
        }
      }
      PROCESSED.incrementAndGet();
    }
  }
}
