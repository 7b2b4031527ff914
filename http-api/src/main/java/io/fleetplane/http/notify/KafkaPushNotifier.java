package io.fleetplane.http.notify;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fleetplane.bridge.command.domain.CommandId;
import io.fleetplane.bridge.command.domain.DeviceCommand;
import io.fleetplane.config.KafkaHeaders;
import io.fleetplane.config.KafkaSettings;
import io.fleetplane.config.ids.DeviceSessionId;
import io.fleetplane.config.ids.RaeSerial;
import io.fleetplane.jobs.distribution.DistributionSettings;
import io.fleetplane.jobs.distribution.domain.PushTarget;
import io.fleetplane.jobs.distribution.notify.Notifier.NotificationException;
import io.fleetplane.jobs.distribution.notify.PushNotifier;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Push notifications of distribution jobs over Kafka (docs/protocol.md section 9): one
 * {@code distribution-notification} record per item on {@code fleet.notifications}, and for a
 * recipient bound to a device session a {@code notification} command on the command topic, which
 * the command bridge delivers to the session's MQTT {@code .../command} topic. Going through the
 * bridge keeps one MQTT publisher (its ACLs, reconnects, message expiry) instead of a second
 * client inside the node.
 *
 * <p>Blocking, like every notifier: the distribution pool calls it on its own threads and
 * retries a failure with backoff. Both records carry the item's stable message id (the command
 * id is derived from it), so a retry or a redelivery after a crash repeats the same ids.
 */
public final class KafkaPushNotifier implements PushNotifier, AutoCloseable {

  public static final String TYPE = "distribution-notification";
  public static final int VERSION = 1;
  /** Command name of a notification delivered to a device session. */
  public static final String DEVICE_COMMAND_NAME = "notification";
  /** Kafka header with the item's message id on {@code fleet.notifications} records. */
  public static final String MESSAGE_ID_HEADER = "message-id";

  private static final ObjectMapper JSON = new ObjectMapper();

  private final Map<String, Object> producerProps;
  private final DistributionSettings.Push settings;
  private final String commandsTopic;
  /** Created on the first push: a node whose jobs never push never connects to Kafka for it. */
  private KafkaProducer<String, byte[]> producer;
  private boolean closed;

  public KafkaPushNotifier(KafkaSettings kafka, DistributionSettings.Push settings, String commandsTopic) {
    this.settings = settings;
    this.commandsTopic = commandsTopic;
    Map<String, Object> props = new HashMap<>(kafka.clientProperties());
    props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
    props.put(ProducerConfig.ACKS_CONFIG, "all");
    props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
    props.put(ProducerConfig.CLIENT_ID_CONFIG, "fleetplane-distribution-push");
    // A push attempt fails within send-timeout when Kafka is away; the worker retries it.
    int timeoutMs = (int) Math.min(Integer.MAX_VALUE, settings.sendTimeout().toMillis());
    props.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, timeoutMs);
    props.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, timeoutMs);
    props.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, timeoutMs + 1);
    this.producerProps = props;
  }

  private synchronized KafkaProducer<String, byte[]> producer() throws NotificationException {
    if (closed) {
      throw new NotificationException("the node is stopping; the push is retried on the next start", null);
    }
    if (producer == null) {
      producer = new KafkaProducer<>(producerProps, new StringSerializer(), new ByteArraySerializer());
    }
    return producer;
  }

  /** {@code <job id>/<recipient id>}: one recipient's notifications of a job stay in order on one partition. */
  public static String recordKey(String jobId, String recipientId) {
    return jobId + "/" + recipientId;
  }

  /**
   * The command id of an item's device notification: derived from the job and item (as the
   * message id is), so a repeated push is recognisable as the same notification.
   */
  public static String commandId(String jobId, String itemId) {
    return "ntf." + jobId + "." + itemId;
  }

  @Override
  public void push(PushNotification n) throws NotificationException {
    KafkaProducer<String, byte[]> producer = producer();
    ObjectNode value = notificationJson(n);
    ProducerRecord<String, byte[]> topicRecord = new ProducerRecord<>(settings.topic(),
        recordKey(n.jobId(), n.recipientId()), bytes(value));
    topicRecord.headers().add(MESSAGE_ID_HEADER, n.messageId().getBytes(StandardCharsets.UTF_8));
    Future<RecordMetadata> topicSent = producer.send(topicRecord);
    Future<RecordMetadata> deviceSent = null;
    PushTarget target = n.pushTarget();
    if (target != null && target.hasDeviceSession()) {
      DeviceCommand command = new DeviceCommand(new CommandId(commandId(n.jobId(), n.itemId())),
          new RaeSerial(target.raeSerial()), new DeviceSessionId(target.deviceSessionId()), DEVICE_COMMAND_NAME,
          value, settings.deviceCommandTimeout().toMillis(), System.currentTimeMillis());
      ProducerRecord<String, byte[]> commandRecord = new ProducerRecord<>(commandsTopic, command.sessionKey(),
          command.toRecordJson());
      commandRecord.headers().add(KafkaHeaders.COMMAND_ID, command.commandId().value().getBytes(StandardCharsets.UTF_8));
      deviceSent = producer.send(commandRecord);
    }
    await(topicSent, settings.topic(), n);
    if (deviceSent != null) {
      await(deviceSent, commandsTopic, n);
    }
  }

  /** The {@code fleet.notifications} value; also the params of a device notification. */
  static ObjectNode notificationJson(PushNotification n) {
    ObjectNode o = JSON.createObjectNode();
    o.put("type", TYPE);
    o.put("version", VERSION);
    o.put("messageId", n.messageId());
    o.put("distributionId", n.jobId());
    o.put("itemId", n.itemId());
    o.put("recipientId", n.recipientId());
    o.put("recipientName", n.recipientName());
    o.put("recipientEmail", n.recipientEmail());
    if (n.pushTarget() != null) {
      ObjectNode t = o.putObject("pushTarget");
      t.put("address", n.pushTarget().address());
      t.put("raeSerial", n.pushTarget().raeSerial());
      t.put("deviceSessionId", n.pushTarget().deviceSessionId());
    } else {
      o.putNull("pushTarget");
    }
    o.put("fileName", n.fileName());
    o.put("link", n.link());
    o.put("linkExpiresAt", n.linkExpiresAt() == null ? null : n.linkExpiresAt().toString());
    o.put("ts", System.currentTimeMillis());
    return o;
  }

  private void await(Future<RecordMetadata> sent, String topic, PushNotification n) throws NotificationException {
    try {
      sent.get(settings.sendTimeout().toMillis() + 1000, TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new NotificationException("interrupted while publishing " + n.messageId() + " to " + topic, e);
    } catch (ExecutionException | TimeoutException e) {
      Throwable cause = e instanceof ExecutionException ? e.getCause() : e;
      throw new NotificationException("Kafka did not take " + n.messageId() + " on " + topic + ": " + cause, cause);
    }
  }

  private static byte[] bytes(ObjectNode o) {
    try {
      return JSON.writeValueAsBytes(o);
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  @Override
  public synchronized void close() {
    closed = true;
    if (producer != null) {
      producer.close(Duration.ofSeconds(5));
    }
  }
}
