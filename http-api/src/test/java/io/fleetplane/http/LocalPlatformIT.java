package io.fleetplane.http;

import static io.fleetplane.http.NodeFixture.awaitResponse;
import static io.fleetplane.http.NodeFixture.json;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fleetplane.testkit.infra.FreePorts;
import io.fleetplane.testkit.infra.PortInUseException;
import java.net.ServerSocket;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.UUID;
import org.junit.jupiter.api.Test;

/**
 * {@code ./fleetplane local} as a user runs it: embedded PostgreSQL, Kafka and MQTT broker plus
 * the node, in one process; stopped and started again on the same data directory, it still has
 * the device it had.
 */
class LocalPlatformIT {

  @Test
  void theWholePlatformRunsEmbeddedAndKeepsItsDataAcrossRestarts() throws Exception {
    Path dataDir = Files.createTempDirectory("fp-local-it-");
    String session = UUID.randomUUID().toString();
    LocalPlatform.Options options = new LocalPlatform.Options(
        dataDir, 0, FreePorts.next(), FreePorts.next(), Optional.empty(), 0, true,
        io.fleetplane.testkit.infra.EmbeddedMqttBroker.Persistence.FILE);

    String adminToken;
    try (LocalPlatform platform = LocalPlatform.start(options)) {
      assertEquals(dataDir.resolve("admin.token"), platform.credentials().adminTokenFile());
      adminToken = Files.readString(dataDir.resolve("admin.token")).trim();
      NodeFixture.publish(platform.mqttUri(), "fleet/rae/RAE-L/device/" + session + "/update",
          "{\"ts\":3,\"attributes\":{\"esn\":\"LOCAL\"}}");
      var response = awaitResponse(platform.node().httpPort(), "/api/v1/devices/" + session, adminToken,
          r -> r.statusCode() == 200, Duration.ofSeconds(30));
      assertEquals("LOCAL", json(response).get("attributes").get("esn").asText());
      assertEquals(401, NodeFixture.get(platform.node().httpPort(), "/api/v1/devices/" + session, null).statusCode());
      assertEquals(401, NodeFixture.get(platform.node().httpPort(), "/api/v1/devices/" + session).statusCode(),
          "a token of another installation's key");

      // ./fleetplane token signs with the data dir's key: the node takes its tokens, scoped.
      String rae = mint(dataDir, "--scopes", "devices:read", "--raes", "RAE-L");
      assertEquals(200, NodeFixture.get(platform.node().httpPort(), "/api/v1/devices/" + session, rae).statusCode());
      String other = mint(dataDir, "--scopes", "devices:read", "--raes", "RAE-X");
      assertEquals(404, NodeFixture.get(platform.node().httpPort(), "/api/v1/devices/" + session, other).statusCode());
      String jobsOnly = mint(dataDir, "--scopes", "jobs:read", "--raes", "*");
      assertEquals(403, NodeFixture.get(platform.node().httpPort(), "/api/v1/devices/" + session, jobsOnly).statusCode());

      readsADistributionEmailOverImap(platform, adminToken);
    }
    assertTrue(Files.exists(dataDir.resolve("postgres").resolve("PG_VERSION")), "PostgreSQL data is under the data dir");
    assertTrue(Files.isDirectory(dataDir.resolve("kafka")), "Kafka logs are under the data dir");

    try (LocalPlatform again = LocalPlatform.start(options)) {
      assertEquals(adminToken, Files.readString(dataDir.resolve("admin.token")).trim(), "the admin token is kept");
      var response = awaitResponse(again.node().httpPort(), "/api/v1/devices/" + session, adminToken,
          r -> r.statusCode() == 200, Duration.ofSeconds(30));
      assertEquals("LOCAL", json(response).get("attributes").get("esn").asText(), "state survived the restart");
    }
  }

  /**
   * Local mode's mail server by default: a job's e-mail is delivered to the in-process SMTP
   * server and read back the way the README tells a user to, with Jakarta Mail's IMAP client,
   * logging in with the recipient's address as user and password.
   */
  private static void readsADistributionEmailOverImap(LocalPlatform platform, String token) throws Exception {
    int httpPort = platform.node().httpPort();
    LocalMail mail = platform.mail().orElseThrow(() -> new AssertionError("no in-process mail server"));
    var upload = NodeFixture.HTTP.send(java.net.http.HttpRequest.newBuilder(
            java.net.URI.create("http://127.0.0.1:" + httpPort + "/api/v1/documents"))
        .header("Authorization", "Bearer " + token).header("Content-Type", "application/pdf")
        .POST(java.net.http.HttpRequest.BodyPublishers.ofByteArray(DistributionHttpIT.pdf("Local", 1, false))).build(),
        java.net.http.HttpResponse.BodyHandlers.ofString());
    assertEquals(201, upload.statusCode(), upload.body());
    String documentId = NodeFixture.JSON.readTree(upload.body()).get("documentId").asText();
    var submitted = NodeFixture.HTTP.send(java.net.http.HttpRequest.newBuilder(
            java.net.URI.create("http://127.0.0.1:" + httpPort + "/api/v1/distributions"))
        .header("Authorization", "Bearer " + token).header("Content-Type", "application/json")
        .POST(java.net.http.HttpRequest.BodyPublishers.ofString("{\"files\":[{\"documentId\":\"" + documentId
            + "\",\"name\":\"sides.pdf\"}],\"recipients\":[{\"name\":\"Ada\",\"email\":\"ada@example.com\"}],"
            + "\"passwordProtect\":true,\"emailNotification\":true}")).build(),
        java.net.http.HttpResponse.BodyHandlers.ofString());
    assertEquals(202, submitted.statusCode(), submitted.body());
    String jobId = NodeFixture.JSON.readTree(submitted.body()).get("id").asText();

    java.util.Properties props = new java.util.Properties();
    props.put("mail.imap.connectiontimeout", "5000");
    props.put("mail.imap.timeout", "5000");
    jakarta.mail.Session imap = jakarta.mail.Session.getInstance(props);
    java.util.concurrent.atomic.AtomicReference<String> body = new java.util.concurrent.atomic.AtomicReference<>();
    java.util.concurrent.atomic.AtomicReference<String> messageId = new java.util.concurrent.atomic.AtomicReference<>();
    io.fleetplane.testkit.Eventually.await(Duration.ofSeconds(60), () -> {
      try (jakarta.mail.Store store = imap.getStore("imap")) {
        store.connect(LocalMail.HOST, mail.imapPort(), "ada@example.com", "ada@example.com");
        jakarta.mail.Folder inbox = store.getFolder("INBOX");
        inbox.open(jakarta.mail.Folder.READ_ONLY);
        try {
          for (jakarta.mail.Message m : inbox.getMessages()) {
            String id = ((jakarta.mail.internet.MimeMessage) m).getMessageID();
            if (id != null && id.startsWith("<" + jobId + ".")) {
              messageId.set(id);
              body.set(String.valueOf(m.getContent()));
              return true;
            }
          }
          return false;
        } finally {
          inbox.close(false);
        }
      } catch (jakarta.mail.AuthenticationFailedException e) {
        return false; // the mailbox exists once the first mail arrived
      } catch (jakarta.mail.MessagingException | java.io.IOException e) {
        throw new AssertionError(e);
      }
    }, () -> "the job's e-mail in ada@example.com's IMAP inbox");
    assertEquals("<" + jobId + ".f0-r0@fleetplane>", messageId.get());
    assertTrue(body.get().contains("sides.pdf has been shared with you"), body.get());
    java.util.regex.Matcher link = java.util.regex.Pattern.compile("/d/(\\S+)").matcher(body.get());
    assertTrue(link.find(), body.get());
    java.util.regex.Matcher password = java.util.regex.Pattern.compile("Password to open the document: (\\S+)")
        .matcher(body.get());
    assertTrue(password.find(), body.get());
    // The link in the mail serves the copy, which opens with the mailed password.
    var copy = NodeFixture.HTTP.send(java.net.http.HttpRequest.newBuilder(
            java.net.URI.create("http://127.0.0.1:" + httpPort + "/d/" + link.group(1))).GET().build(),
        java.net.http.HttpResponse.BodyHandlers.ofByteArray());
    assertEquals(200, copy.statusCode());
    try (var pdf = org.apache.pdfbox.Loader.loadPDF(copy.body(), password.group(1))) {
      assertEquals(1, pdf.getNumberOfPages());
    }
  }

  /** Runs {@code ./fleetplane token} in-process and returns what it printed. */
  private static String mint(Path dataDir, String... args) {
    java.io.StringWriter out = new java.io.StringWriter();
    java.io.StringWriter err = new java.io.StringWriter();
    String[] all = java.util.stream.Stream.concat(java.util.stream.Stream.of("token", "--data-dir", dataDir.toString()),
        java.util.Arrays.stream(args)).toArray(String[]::new);
    int exit = new picocli.CommandLine(new Launcher()).setOut(new java.io.PrintWriter(out))
        .setErr(new java.io.PrintWriter(err)).execute(all);
    assertEquals(0, exit, err.toString());
    return out.toString().trim();
  }

  @Test
  void tokenCommandRefusesUnknownScopesBadRaesAndAMissingKey() throws Exception {
    Path dir = Files.createTempDirectory("fp-token-");
    java.io.StringWriter err = new java.io.StringWriter();
    picocli.CommandLine cli = new picocli.CommandLine(new Launcher()).setErr(new java.io.PrintWriter(err));
    assertEquals(2, cli.execute("token", "--data-dir", dir.toString(), "--scopes", "devices:read"));
    assertTrue(err.toString().contains("No signing key"), err.toString());
    io.fleetplane.http.auth.LocalCredentials.ensure(dir);
    assertEquals(2, cli.execute("token", "--data-dir", dir.toString(), "--scopes", "devices:raed"));
    assertTrue(err.toString().contains("Unknown scope 'devices:raed'"), err.toString());
    assertEquals(2, cli.execute("token", "--data-dir", dir.toString(), "--scopes", "admin", "--raes", "fleet/#"));
    assertEquals(2, cli.execute("token", "--data-dir", dir.toString(), "--scopes", "admin", "--ttl", "forever"));
    assertTrue(mint(dir, "--scopes", "admin", "--ttl", "2h").split("\\.").length == 3, "a JWS");
  }

  @Test
  void aTakenMqttPortFailsWithWhatToDoAndStartsNothing() throws Exception {
    try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
      LocalPlatform.Options options = new LocalPlatform.Options(Files.createTempDirectory("fp-local-it-"),
          0, FreePorts.next(), taken.getLocalPort(), Optional.empty(), 0, false,
          io.fleetplane.testkit.infra.EmbeddedMqttBroker.Persistence.FILE);
      PortInUseException e = assertThrows(PortInUseException.class, () -> LocalPlatform.start(options));
      assertTrue(e.getMessage().contains("--mqtt-uri tcp://127.0.0.1:" + taken.getLocalPort()), e.getMessage());
      assertTrue(e.getMessage().contains("--mqtt-port"), e.getMessage());
      assertTrue(FreePorts.isFree(options.kafkaPort()), "Kafka was not started");
    }
  }
}
