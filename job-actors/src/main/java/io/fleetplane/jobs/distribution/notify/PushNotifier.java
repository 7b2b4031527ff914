package io.fleetplane.jobs.distribution.notify;

import io.fleetplane.jobs.distribution.domain.PushTarget;
import java.time.Instant;

/**
 * Publishes one item's push notification: a record on {@code fleet.notifications} and, when the
 * recipient's push target names a device session, a message to that session over MQTT. The node
 * supplies the implementation (Kafka lives outside job-actors); implementations block, the work
 * pool calls them, and a failure is retried with backoff like every step.
 */
public interface PushNotifier {

  /**
   * What is pushed. Never the copy's password: push records stay in Kafka for its retention and
   * reach every consumer of the topic, so passwords travel by e-mail only.
   *
   * @param messageId the item's stable id, the same as its e-mail's Message-ID: a redelivery after
   *     a crash carries it again
   * @param pushTarget null when the recipient has none (the record still goes to the topic)
   */
  record PushNotification(String messageId, String jobId, String itemId, String recipientId, String recipientName,
      String recipientEmail, PushTarget pushTarget, String fileName, String link, Instant linkExpiresAt) {}

  /**
   * @throws Notifier.NotificationException when it could not be handed over (retried with backoff)
   */
  void push(PushNotification notification) throws Notifier.NotificationException;

  /** For nodes without Kafka (tests, tools): every push fails, so jobs asking for push record why. */
  PushNotifier UNAVAILABLE = n -> {
    throw new Notifier.NotificationException("push notifications are not configured on this node", null);
  };
}
