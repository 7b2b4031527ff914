package io.fleetplane.jobs.distribution.notify;

import jakarta.mail.Message;
import jakarta.mail.MessagingException;
import jakarta.mail.Session;
import jakarta.mail.Transport;
import jakarta.mail.internet.InternetAddress;
import jakarta.mail.internet.MimeMessage;
import java.io.UnsupportedEncodingException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Properties;

/** E-mail over SMTP (Jakarta Mail, Angus implementation), one connection per message. */
public final class SmtpNotifier implements Notifier {

  private final Session session;
  private final InternetAddress from;

  public SmtpNotifier(String host, int port, String from, String user, String password, boolean startTls,
      Duration timeout) {
    Properties props = new Properties();
    props.put("mail.smtp.host", host);
    props.put("mail.smtp.port", Integer.toString(port));
    props.put("mail.smtp.connectiontimeout", Long.toString(timeout.toMillis()));
    props.put("mail.smtp.timeout", Long.toString(timeout.toMillis()));
    props.put("mail.smtp.writetimeout", Long.toString(timeout.toMillis()));
    props.put("mail.smtp.starttls.enable", Boolean.toString(startTls));
    boolean auth = user != null && !user.isEmpty();
    props.put("mail.smtp.auth", Boolean.toString(auth));
    this.session = auth
        ? Session.getInstance(props, new jakarta.mail.Authenticator() {
            @Override
            protected jakarta.mail.PasswordAuthentication getPasswordAuthentication() {
              return new jakarta.mail.PasswordAuthentication(user, password);
            }
          })
        : Session.getInstance(props);
    try {
      this.from = new InternetAddress(from, true);
    } catch (MessagingException e) {
      throw new IllegalArgumentException("fleetplane.jobs.distribution.smtp.from is not an address: " + from, e);
    }
  }

  @Override
  public void send(String messageId, String toName, String toEmail, String subject, String body)
      throws NotificationException {
    try {
      MimeMessage message = new StableIdMessage(session, messageId);
      message.setFrom(from);
      message.setRecipient(Message.RecipientType.TO, new InternetAddress(toEmail, toName, StandardCharsets.UTF_8.name()));
      message.setSubject(subject, StandardCharsets.UTF_8.name());
      message.setText(body, StandardCharsets.UTF_8.name());
      Transport.send(message);
    } catch (MessagingException | UnsupportedEncodingException e) {
      // The message text is never in the exception: it may hold a password.
      throw new NotificationException("SMTP delivery to " + toEmail + " failed: " + e.getMessage(), e);
    }
  }

  /** Jakarta Mail replaces Message-ID on every save; ours must stay the same across redeliveries. */
  private static final class StableIdMessage extends MimeMessage {
    private final String messageId;

    StableIdMessage(Session session, String messageId) {
      super(session);
      this.messageId = messageId;
    }

    @Override
    protected void updateMessageID() throws MessagingException {
      setHeader("Message-ID", messageId);
    }
  }
}
