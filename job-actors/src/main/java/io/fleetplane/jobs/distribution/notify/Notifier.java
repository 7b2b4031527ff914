package io.fleetplane.jobs.distribution.notify;

/** Delivers one notification to a recipient. Implementations block; the work pool calls them. */
public interface Notifier {

  /**
   * @param messageId stable per item ({@code <jobId.itemId@fleetplane>}): a redelivery after a
   *     crash carries the same id, so a mail client or the recipient can recognise the duplicate
   * @throws NotificationException when the message could not be handed over (retried with backoff)
   */
  void send(String messageId, String toName, String toEmail, String subject, String body)
      throws NotificationException;

  final class NotificationException extends Exception {
    public NotificationException(String message, Throwable cause) {
      super(message, cause);
    }
  }
}
