package io.fleetplane.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.icegreen.greenmail.util.GreenMail;
import com.icegreen.greenmail.util.ServerSetup;
import io.fleetplane.http.notify.KafkaPushNotifier;
import io.fleetplane.testkit.Eventually;
import io.fleetplane.testkit.infra.EmbeddedKafka;
import io.fleetplane.testkit.infra.FreePorts;
import io.fleetplane.testkit.infra.MosquittoBroker;
import io.fleetplane.testkit.infra.PostgresEndpoint;
import io.fleetplane.testkit.infra.TestPostgres;
import jakarta.mail.internet.MimeMessage;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.eclipse.paho.mqttv5.client.IMqttMessageListener;
import org.eclipse.paho.mqttv5.client.MqttClient;
import org.eclipse.paho.mqttv5.client.MqttConnectionOptions;
import org.eclipse.paho.mqttv5.client.persist.MemoryPersistence;
import org.eclipse.paho.mqttv5.common.MqttSubscription;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Push notifications of a distribution job through real parts: the node's Kafka producer, the
 * embedded Kafka broker, the node's command bridge and a Mosquitto broker, with a Paho client
 * standing in for the device, and e-mail on an in-process SMTP server beside it.
 */
class DistributionPushIT {

  private static final Duration WAIT = Duration.ofSeconds(60);
  private static final String RAE = "RAE-PUSH";

  private static PostgresEndpoint db;
  private static EmbeddedKafka kafka;
  private static MosquittoBroker broker;
  private static GreenMail mail;
  private static FleetplaneNode node;
  private static int port;

  @BeforeAll
  static void start() throws Exception {
    db = TestPostgres.newSchema();
    kafka = NodeFixture.startKafka();
    broker = MosquittoBroker.start();
    int smtpPort = FreePorts.next();
    mail = new GreenMail(new ServerSetup(smtpPort, FreePorts.LOOPBACK, ServerSetup.PROTOCOL_SMTP));
    mail.start();
    Map<String, Object> config = NodeFixture.nodeConfig(db, kafka.bootstrapServers(), broker.serverUri(), "push-it");
    config.put("fleetplane.node.run-registry", false);
    config.put("fleetplane.node.metrics.kamon-agent", false);
    config.put("fleetplane.jobs.distribution.store-dir", Files.createTempDirectory("fp-dist-push-").toString());
    config.put("fleetplane.jobs.distribution.parallelism", 2);
    config.put("fleetplane.jobs.distribution.smtp.port", smtpPort);
    config.put("fleetplane.jobs.distribution.smtp.host", FreePorts.LOOPBACK);
    node = NodeFixture.startNode(config);
    port = node.httpPort();
  }

  @AfterAll
  static void stop() throws Exception {
    try {
      NodeFixture.stopAll(node, kafka, db);
    } finally {
      if (broker != null) {
        broker.close();
      }
      if (mail != null) {
        mail.stop();
      }
    }
  }

  private static HttpResponse<String> post(String path, String contentType, byte[] body) throws Exception {
    return NodeFixture.HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
        .timeout(Duration.ofSeconds(20)).header("Content-Type", contentType)
        .header("Authorization", "Bearer " + TestTokens.admin())
        .POST(HttpRequest.BodyPublishers.ofByteArray(body)).build(), HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void everyItemIsPushedToTheTopicAndADeviceBoundRecipientGetsItOverMqtt() throws Exception {
    String session = UUID.randomUUID().toString();
    // The device: subscribed to its command topic before the job exists.
    List<String> onDevice = new CopyOnWriteArrayList<>();
    MqttClient device = new MqttClient(broker.serverUri(), "push-it-device", new MemoryPersistence());
    MqttConnectionOptions options = new MqttConnectionOptions();
    options.setCleanStart(true);
    device.connect(options);
    // The array form: Paho 1.2.5's subscribe(String, int, listener) recurses into itself.
    device.subscribe(new MqttSubscription[] {new MqttSubscription("fleet/rae/" + RAE + "/device/" + session + "/command", 1)},
        new IMqttMessageListener[] {(topic, message) -> onDevice.add(new String(message.getPayload(), StandardCharsets.UTF_8))});
    try {
      String documentId = NodeFixture.JSON.readTree(post("/api/v1/documents", "application/pdf",
          DistributionHttpIT.pdf("Push", 1, false)).body()).get("documentId").asText();
      String request = """
          {"files": [{"documentId": "%s", "name": "call-sheet.pdf"}],
           "recipients": [
             {"name": "Ada", "email": "ada@example.com",
              "pushTarget": {"raeSerial": "%s", "deviceSessionId": "%s"}},
             {"name": "Grace", "email": "grace@example.com", "pushTarget": {"address": "app-user-7"}},
             {"name": "Linus", "email": "linus@example.com"}],
           "emailNotification": true, "pushNotification": true, "priority": "high"}
          """.formatted(documentId, RAE, session);
      HttpResponse<String> created = post("/api/v1/distributions", "application/json",
          request.getBytes(StandardCharsets.UTF_8));
      assertEquals(202, created.statusCode(), created.body());
      JsonNode summary = NodeFixture.JSON.readTree(created.body());
      assertTrue(summary.get("pushNotification").asBoolean());
      assertEquals("high", summary.get("priority").asText());
      String jobId = summary.get("id").asText();
      NodeFixture.awaitResponse(port, "/api/v1/distributions/" + jobId,
          r -> r.body().contains("\"status\":\"completed\""), WAIT);

      // One record per item on fleet.notifications, keyed by job and recipient, with the item's message id.
      Map<String, ConsumerRecord<String, byte[]>> byItem = readNotifications(jobId, 3);
      assertEquals(Set.of("f0-r0", "f0-r1", "f0-r2"), byItem.keySet());
      for (var entry : byItem.entrySet()) {
        String itemId = entry.getKey();
        ConsumerRecord<String, byte[]> record = entry.getValue();
        JsonNode value = NodeFixture.JSON.readTree(record.value());
        String messageId = "<" + jobId + "." + itemId + "@fleetplane>";
        assertEquals("distribution-notification", value.get("type").asText());
        assertEquals(1, value.get("version").asInt());
        assertEquals(messageId, value.get("messageId").asText());
        assertEquals(messageId, new String(record.headers().lastHeader(KafkaPushNotifier.MESSAGE_ID_HEADER).value(),
            StandardCharsets.UTF_8));
        assertEquals(jobId + "/" + itemId.substring(3), record.key());
        assertTrue(value.get("link").asText().contains("/d/"), value.toString());
        assertTrue(value.get("password") == null, "push never carries the password");
      }
      assertEquals("app-user-7", NodeFixture.JSON.readTree(byItem.get("f0-r1").value()).get("pushTarget")
          .get("address").asText());
      assertTrue(NodeFixture.JSON.readTree(byItem.get("f0-r2").value()).get("pushTarget").isNull());

      // The same message ids as the e-mails: one outbox id per item, whatever the channel.
      Map<String, String> mailIds = new TreeMap<>();
      for (MimeMessage m : mail.getReceivedMessages()) {
        if (m.getMessageID() != null && m.getMessageID().startsWith("<" + jobId + ".")) {
          mailIds.put(m.getAllRecipients()[0].toString(), m.getMessageID());
        }
      }
      assertEquals("<" + jobId + ".f0-r0@fleetplane>", mailIds.get("Ada <ada@example.com>"), mailIds.toString());
      assertEquals(3, mailIds.size(), mailIds.toString());

      // Only Ada is bound to a device session: her notification reaches the device over MQTT.
      Eventually.await(WAIT, () -> !onDevice.isEmpty(), () -> "the notification on the device's command topic");
      JsonNode command = NodeFixture.JSON.readTree(onDevice.get(0));
      assertEquals("command", command.get("type").asText());
      assertEquals("notification", command.get("name").asText());
      assertEquals(KafkaPushNotifier.commandId(jobId, "f0-r0"), command.get("commandId").asText());
      JsonNode params = command.get("params");
      assertEquals("distribution-notification", params.get("type").asText());
      assertEquals("<" + jobId + ".f0-r0@fleetplane>", params.get("messageId").asText());
      assertEquals("call-sheet.pdf", params.get("fileName").asText());
      assertEquals(1, onDevice.size(), "only the device-bound recipient's item goes to the device: " + onDevice);

      JsonNode items = NodeFixture.json(NodeFixture.get(port, "/api/v1/distributions/" + jobId + "/items"));
      for (JsonNode item : items.get("items")) {
        assertEquals("completed", item.get("state").asText(), item.toString());
      }
    } finally {
      device.disconnect();
      device.close();
    }
  }

  @Test
  void badPushTargetsAndPrioritiesAreRejectedWithTheirCodes() throws Exception {
    String documentId = NodeFixture.JSON.readTree(post("/api/v1/documents", "application/pdf",
        DistributionHttpIT.pdf("Bad push", 1, false)).body()).get("documentId").asText();
    Map<String, String> cases = new HashMap<>();
    cases.put("{\"files\":[{\"documentId\":\"" + documentId + "\"}],\"recipients\":[{\"name\":\"A\",\"email\":"
        + "\"a@example.com\",\"pushTarget\":{\"raeSerial\":\"RAE-1\"}}],\"pushNotification\":true}",
        "distribution.push-target-invalid");
    cases.put("{\"files\":[{\"documentId\":\"" + documentId + "\"}],\"recipients\":[{\"name\":\"A\",\"email\":"
        + "\"a@example.com\"}],\"priority\":\"urgent\"}", "distribution.priority-invalid");
    for (var c : cases.entrySet()) {
      HttpResponse<String> r = post("/api/v1/distributions", "application/json", c.getKey().getBytes(StandardCharsets.UTF_8));
      assertEquals(400, r.statusCode(), r.body());
      assertEquals("application/problem+json", r.headers().firstValue("Content-Type").orElse(""));
      assertEquals(c.getValue(), NodeFixture.JSON.readTree(r.body()).get("code").asText(), r.body());
    }
  }

  /** Reads the topic from the start until {@code count} records of the job arrived; by item id. */
  private static Map<String, ConsumerRecord<String, byte[]>> readNotifications(String jobId, int count) {
    Properties props = new Properties();
    props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
    props.put(ConsumerConfig.GROUP_ID_CONFIG, "push-it-" + UUID.randomUUID());
    props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
    Map<String, ConsumerRecord<String, byte[]>> byItem = new ConcurrentHashMap<>();
    List<String> duplicates = new ArrayList<>();
    try (KafkaConsumer<String, byte[]> consumer = new KafkaConsumer<>(props, new StringDeserializer(),
        new ByteArrayDeserializer())) {
      consumer.subscribe(List.of("fleet.notifications"));
      Eventually.await(WAIT, () -> {
        for (ConsumerRecord<String, byte[]> r : consumer.poll(Duration.ofMillis(200))) {
          if (r.key().startsWith(jobId + "/")) {
            try {
              String itemId = NodeFixture.JSON.readTree(r.value()).get("itemId").asText();
              if (byItem.put(itemId, r) != null) {
                duplicates.add(itemId);
              }
            } catch (java.io.IOException e) {
              throw new AssertionError(e);
            }
          }
        }
        return byItem.size() >= count;
      }, () -> count + " records of job " + jobId + " on fleet.notifications; got " + byItem.keySet());
    }
    // Nothing failed in this run, so nothing was retried: exactly one record per item.
    assertEquals(List.of(), duplicates);
    return byItem;
  }
}
