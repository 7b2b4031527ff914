package io.fleetplane.http;

import com.icegreen.greenmail.util.GreenMail;
import com.icegreen.greenmail.util.ServerSetup;
import io.fleetplane.testkit.infra.FreePorts;
import io.fleetplane.testkit.infra.PortInUseException;

/**
 * Local mode's mail server: GreenMail's SMTP and IMAP in this process on 127.0.0.1, so the
 * e-mails of distribution jobs can be read with any mail client. GreenMail creates a mailbox for
 * every address it receives mail for, with the address as both login and password. Mail is kept
 * in memory: a restart of local mode empties every mailbox.
 */
public final class LocalMail implements AutoCloseable {

  public static final String HOST = "127.0.0.1";

  private final GreenMail greenMail;
  private final int smtpPort;
  private final int imapPort;

  private LocalMail(GreenMail greenMail, int smtpPort, int imapPort) {
    this.greenMail = greenMail;
    this.smtpPort = smtpPort;
    this.imapPort = imapPort;
  }

  /** Ports 0 pick free ones. */
  public static LocalMail start(int smtpPort, int imapPort) {
    int smtp = smtpPort == 0 ? FreePorts.next() : smtpPort;
    int imap = imapPort == 0 ? FreePorts.next() : imapPort;
    // GreenMail's own error for a taken port is a bare bind failure after a timeout; say what to do.
    if (!FreePorts.isFree(smtp)) {
      throw new PortInUseException(smtp, "SMTP port " + smtp + " on 127.0.0.1 is already in use. Use another one"
          + " (--smtp-port 3026) or send through an existing server (--smtp-server host:port).");
    }
    if (!FreePorts.isFree(imap)) {
      throw new PortInUseException(imap, "IMAP port " + imap + " on 127.0.0.1 is already in use. Use another one"
          + " (--imap-port 3144) or send through an existing server (--smtp-server host:port).");
    }
    GreenMail greenMail = new GreenMail(new ServerSetup[] {
        new ServerSetup(smtp, HOST, ServerSetup.PROTOCOL_SMTP),
        new ServerSetup(imap, HOST, ServerSetup.PROTOCOL_IMAP)});
    greenMail.start();
    return new LocalMail(greenMail, smtp, imap);
  }

  public int smtpPort() {
    return smtpPort;
  }

  public int imapPort() {
    return imapPort;
  }

  @Override
  public void close() {
    greenMail.stop();
  }
}
