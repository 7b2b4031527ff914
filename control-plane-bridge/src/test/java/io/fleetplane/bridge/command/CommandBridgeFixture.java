package io.fleetplane.bridge.command;

import io.fleetplane.config.KafkaHeaders;
import akka.actor.typed.ActorSystem;
import akka.actor.typed.javadsl.Behaviors;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.typesafe.config.Config;
import io.fleetplane.bridge.command.domain.CommandId;
import io.fleetplane.bridge.command.domain.CommandReply;
import io.fleetplane.bridge.command.domain.DeviceCommand;
import io.fleetplane.config.FleetplaneConfig;
import io.fleetplane.config.KafkaSettings;
import io.fleetplane.config.ids.DeviceSessionId;
import io.fleetplane.config.ids.RaeSerial;
import io.fleetplane.testkit.infra.EmbeddedKafka;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * A running {@link CommandBridge} on the shared in-process Kafka and a given MQTT broker, with its
 * own topics and consumer group, plus what a test needs around it: a producer for command records
 * (standing in for the HTTP API) and readers of the replies and dead-letter topics.
 */
final class CommandBridgeFixture implements AutoCloseable {

  static final Duration WAIT = Duration.ofSeconds(20);
  private static final ObjectMapper JSON = new ObjectMapper();

  final String name;
  final Config config;
  final CommandBridgeSettings settings;
  final KafkaSettings kafka;
  final ActorSystem<Void> system;
  final CommandBridge bridge;
  final KafkaRecords replies;
  final KafkaRecords deadLetters;
  private final KafkaProducer<String, byte[]> producer;

  private CommandBridgeFixture(String name, Config config) throws Exception {
    this.name = name;
    this.config = config;
    this.settings = CommandBridgeSettings.fromConfig(config);
    this.kafka = KafkaSettings.fromConfig(config);
    this.system = ActorSystem.create(Behaviors.empty(), name, config);
    CommandBridge started;
    try {
      started = CommandBridge.start(system, settings, kafka).toCompletableFuture()
          .get(30, TimeUnit.SECONDS);
    } catch (Exception e) {
      system.terminate();
      throw e;
    }
    this.bridge = started;
    this.replies = new KafkaRecords(kafka.bootstrapServers(), settings.repliesTopic());
    this.deadLetters = new KafkaRecords(kafka.bootstrapServers(), kafka.deadLettersTopic());
    this.producer = new KafkaProducer<>(Map.of(
        ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers(),
        ProducerConfig.ACKS_CONFIG, "all"), new StringSerializer(), new ByteArraySerializer());
  }

  /**
   * Starts a bridge against {@code mqttUri}; {@code overrides} are extra config keys
   * (credentials, bounds).
   */
  static CommandBridgeFixture start(String name, String mqttUri, Map<String, Object> overrides)
      throws Exception {
    EmbeddedKafka kafka = SharedKafka.get();
    String prefix = "it-" + name + "-" + UUID.randomUUID().toString().substring(0, 8);
    Map<String, Object> c = new HashMap<>();
    c.put("fleetplane.kafka.bootstrap-servers", kafka.bootstrapServers());
    c.put("fleetplane.kafka.topics.dead-letters", prefix + ".dead-letters");
    c.put("fleetplane.bridge.mqtt.server-uri", mqttUri);
    c.put("fleetplane.bridge.instance-id", name);
    c.put("fleetplane.bridge.commands.topics.commands", prefix + ".device-commands");
    c.put("fleetplane.bridge.commands.topics.replies", prefix + ".device-command-replies");
    c.put("fleetplane.bridge.commands.consumer-group-id", prefix + "-commands");
    c.put("fleetplane.bridge.commands.mqtt.client-id", prefix + "-commands");
    c.put("fleetplane.bridge.commands.restart.min-backoff", "200ms");
    c.put("fleetplane.bridge.commands.restart.max-backoff", "2s");
    c.put("fleetplane.bridge.commands.shutdown-timeout", "2s");
    c.put("akka.loglevel", "WARNING");
    c.putAll(overrides);
    Config config = FleetplaneConfig.load(c);
    CommandBridgeSettings settings = CommandBridgeSettings.fromConfig(config);
    kafka.createTopics(4, settings.commandsTopic(), settings.repliesTopic());
    kafka.createTopics(1, KafkaSettings.fromConfig(config).deadLettersTopic());
    return new CommandBridgeFixture(name, config);
  }

  /** A command as the HTTP API would issue it, now. */
  static DeviceCommand command(RaeSerial rae, DeviceSessionId session, String name,
      Map<String, ?> params, long timeoutMs) {
    return new DeviceCommand(new CommandId(UUID.randomUUID().toString()), rae, session, name,
        JSON.valueToTree(params), timeoutMs, System.currentTimeMillis());
  }

  static ObjectNode json(byte[] bytes) throws Exception {
    return (ObjectNode) JSON.readTree(bytes);
  }

  /** Produces the command record (key = session, {@code command-id} header) and waits for Kafka. */
  void send(DeviceCommand command) throws Exception {
    sendRaw(command.sessionKey(), command.toRecordJson(), command.commandId().value());
  }

  void sendRaw(String key, byte[] value, String commandIdHeader) throws Exception {
    ProducerRecord<String, byte[]> record =
        new ProducerRecord<>(settings.commandsTopic(), null, key, value,
            commandIdHeader == null ? List.of() : List.of(new RecordHeader(KafkaHeaders.COMMAND_ID,
                commandIdHeader.getBytes(StandardCharsets.UTF_8))));
    producer.send(record).get(10, TimeUnit.SECONDS);
  }

  /** Waits for the reply record of one command and checks its key and header. */
  CommandReply awaitReply(DeviceCommand command, Duration timeout) {
    ConsumerRecord<String, byte[]> record = replies.await(
        r -> command.commandId().value().equals(KafkaRecords.header(r, KafkaHeaders.COMMAND_ID)),
        timeout, "reply to " + command.commandId());
    if (!command.sessionKey().equals(record.key())) {
      throw new AssertionError("reply keyed '" + record.key() + "', expected the session key "
          + command.sessionKey());
    }
    return CommandReply.parse(record.value());
  }

  /** Every reply record of one command seen so far. */
  List<CommandReply> repliesTo(DeviceCommand command) {
    return replies.matching(r ->
            command.commandId().value().equals(KafkaRecords.header(r, KafkaHeaders.COMMAND_ID)))
        .stream().map(r -> CommandReply.parse(r.value())).toList();
  }

  /** Stops the bridge gracefully, then everything around it. */
  @Override
  public void close() {
    try {
      bridge.stop().toCompletableFuture().orTimeout(30, TimeUnit.SECONDS).join();
    } finally {
      producer.close(Duration.ofSeconds(2));
      replies.close();
      deadLetters.close();
      system.terminate();
      system.getWhenTerminated().toCompletableFuture().orTimeout(20, TimeUnit.SECONDS).join();
    }
  }
}
