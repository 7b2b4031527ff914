package io.fleetplane.http;

import io.fleetplane.bridge.command.CommandBridgeSettings;
import io.fleetplane.config.FleetplaneConfig;
import io.fleetplane.config.KafkaSettings;
import io.fleetplane.http.auth.LocalCredentials;
import io.fleetplane.testkit.infra.EmbeddedKafka;
import io.fleetplane.testkit.infra.EmbeddedMqttBroker;
import io.fleetplane.testkit.infra.EmbeddedPostgresServer;
import io.fleetplane.testkit.infra.PortInUseException;
import io.fleetplane.testkit.infra.PostgresEndpoint;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The whole platform in one process on its embedded default: PostgreSQL (data under the data
 * directory, so it survives restarts), an in-process Kafka broker in KRaft mode, an MQTT 5 broker
 * (or an external one), an SMTP + IMAP mail server for distribution e-mail (or an external SMTP
 * server), and a node running the bridge, the registry and the HTTP API.
 */
public final class LocalPlatform implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(LocalPlatform.class);

  /** Where everything listens; 0 picks a free port (tests). */
  public record Options(
      Path dataDir,
      int httpPort,
      int kafkaPort,
      int mqttPort,
      Optional<String> externalMqttUri,
      int postgresPort,
      boolean kamonAgent,
      EmbeddedMqttBroker.Persistence mqttPersistence,
      int smtpPort,
      int imapPort,
      Optional<String> externalSmtpServer) {

    /** With the in-process mail server on free ports. */
    public Options(Path dataDir, int httpPort, int kafkaPort, int mqttPort, Optional<String> externalMqttUri,
        int postgresPort, boolean kamonAgent, EmbeddedMqttBroker.Persistence mqttPersistence) {
      this(dataDir, httpPort, kafkaPort, mqttPort, externalMqttUri, postgresPort, kamonAgent, mqttPersistence, 0, 0,
          Optional.empty());
    }
  }

  private final EmbeddedPostgresServer postgres;
  private final EmbeddedKafka kafka;
  private final EmbeddedMqttBroker mqtt;
  private final FleetplaneNode node;
  private final String mqttUri;
  private final LocalCredentials credentials;
  private final LocalMail mail;

  private LocalPlatform(EmbeddedPostgresServer postgres, EmbeddedKafka kafka, EmbeddedMqttBroker mqtt,
      String mqttUri, FleetplaneNode node, LocalCredentials credentials, LocalMail mail) {
    this.credentials = credentials;
    this.mail = mail;
    this.postgres = postgres;
    this.kafka = kafka;
    this.mqtt = mqtt;
    this.mqttUri = mqttUri;
    this.node = node;
  }

  public static LocalPlatform start(Options options) throws Exception {
    Path dataDir = options.dataDir().toAbsolutePath();
    Files.createDirectories(dataDir);
    log.info("Starting Fleetplane local mode with data in {}", dataDir);
    EmbeddedMqttBroker mqtt = null;
    EmbeddedKafka kafka = null;
    EmbeddedPostgresServer postgres = null;
    LocalMail mail = null;
    try {
      // The broker first: its port is the one most often taken (another broker on 1883), and
      // failing before anything else started keeps the error message the only output.
      String mqttUri;
      if (options.externalMqttUri().isPresent()) {
        mqttUri = options.externalMqttUri().get();
        log.info("Using external MQTT broker {}", mqttUri);
      } else {
        try {
          mqtt = EmbeddedMqttBroker.start(options.mqttPort(), dataDir.resolve("mqtt"), options.mqttPersistence());
        } catch (PortInUseException e) {
          throw new PortInUseException(e.port(), "MQTT port " + e.port() + " on 127.0.0.1 is already in use"
              + " (another broker or process listens there). Either use that broker instead of embedding"
              + " one: ./fleetplane local --mqtt-uri tcp://127.0.0.1:" + e.port()
              + "   or embed the broker on another port: ./fleetplane local --mqtt-port 1884");
        }
        mqttUri = mqtt.serverUri();
      }
      Map<String, Object> base = new HashMap<>();
      if (options.externalSmtpServer().isPresent()) {
        String server = options.externalSmtpServer().get();
        int colon = server.lastIndexOf(':');
        String host = colon < 0 ? server : server.substring(0, colon);
        int smtpPort = colon < 0 ? 25 : Integer.parseInt(server.substring(colon + 1));
        base.put("fleetplane.jobs.distribution.smtp.host", host);
        base.put("fleetplane.jobs.distribution.smtp.port", smtpPort);
        log.info("Distribution e-mail goes to the external SMTP server {}:{}", host, smtpPort);
      } else {
        // Distribution e-mail lands here unless told otherwise: readable over IMAP, never sent out.
        mail = LocalMail.start(options.smtpPort(), options.imapPort());
        base.put("fleetplane.jobs.distribution.smtp.host", LocalMail.HOST);
        base.put("fleetplane.jobs.distribution.smtp.port", mail.smtpPort());
        base.put("fleetplane.jobs.distribution.smtp.user", "");
        base.put("fleetplane.jobs.distribution.smtp.start-tls", false);
        log.info("In-process mail server: SMTP {}:{}, IMAP {}:{} (login and password: the recipient's address)",
            LocalMail.HOST, mail.smtpPort(), LocalMail.HOST, mail.imapPort());
      }
      // Stopped by close(), after the node: the node's journal writes until its drain is done.
      postgres = EmbeddedPostgresServer.start(dataDir.resolve("postgres"), options.postgresPort(), false);
      KafkaSettings defaults = KafkaSettings.fromConfig(FleetplaneConfig.load());
      kafka = EmbeddedKafka.start(options.kafkaPort(), dataDir.resolve("kafka"), defaults.deviceEventsPartitions());
      kafka.createTopics(defaults.deviceEventsPartitions(), defaults.deviceEventsTopic());
      kafka.createTopics(1, defaults.deadLettersTopic());
      kafka.createTopics(1, SignalsKafkaSource.Settings.fromConfig(FleetplaneConfig.load()).topic());
      CommandBridgeSettings commands = CommandBridgeSettings.fromConfig(FleetplaneConfig.load());
      kafka.createTopics(commands.topicPartitions(), commands.commandsTopic(), commands.repliesTopic());
      kafka.createTopics(1, io.fleetplane.jobs.distribution.DistributionSettings.fromConfig(FleetplaneConfig.load())
          .push().topic());

      PostgresEndpoint db = postgres.endpoint();
      LocalCredentials credentials = LocalCredentials.ensure(dataDir);
      // Local mode's own key only, whatever the environment says.
      base.put("fleetplane.node.http.auth.hmac-secret-file", credentials.keyFile().toString());
      base.put("fleetplane.node.http.auth.hmac-secret", "");
      base.put("fleetplane.node.http.auth.rsa-public-key-file", "");
      base.put("fleetplane.node.http.auth.jwks-file", "");
      base.put("fleetplane.data-dir", dataDir.toString());
      base.put("fleetplane.persistence.jdbc-url", db.jdbcUrl());
      base.put("fleetplane.persistence.user", db.user());
      base.put("fleetplane.persistence.password", db.password());
      base.put("fleetplane.kafka.bootstrap-servers", kafka.bootstrapServers());
      base.put("fleetplane.bridge.mqtt.server-uri", mqttUri);
      base.put("fleetplane.node.http.port", options.httpPort());
      if (options.httpPort() != 0 && System.getenv("FLEETPLANE_PUBLIC_BASE_URL") == null) {
        // Links in the local mails should reach this node, also on a --http-port other than 8080.
        base.put("fleetplane.jobs.distribution.public-base-url", "http://127.0.0.1:" + options.httpPort());
      }
      base.put("fleetplane.node.metrics.kamon-agent", options.kamonAgent());
      base.put("akka.remote.artery.canonical.port", 0);
      FleetplaneNode node = FleetplaneNode.start(FleetplaneConfig.load(base));
      return new LocalPlatform(postgres, kafka, mqtt, mqttUri, node, credentials, mail);
    } catch (Exception | Error e) {
      closeQuietly(mail);
      closeQuietly(kafka);
      closeQuietly(postgres);
      closeQuietly(mqtt);
      throw e;
    }
  }

  public FleetplaneNode node() {
    return node;
  }

  /** The admin token's file ({@code <data dir>/admin.token}) and the signing key beside it. */
  public LocalCredentials credentials() {
    return credentials;
  }

  public String mqttUri() {
    return mqttUri;
  }

  /** The in-process mail server; empty when e-mail goes to an external SMTP server. */
  public Optional<LocalMail> mail() {
    return Optional.ofNullable(mail);
  }

  public String kafkaBootstrapServers() {
    return kafka.bootstrapServers();
  }

  /** Stops the node gracefully (bridge drained, offsets committed), then the infrastructure. */
  @Override
  public void close() {
    try {
      node.stop().toCompletableFuture().get(90, java.util.concurrent.TimeUnit.SECONDS);
    } catch (Exception e) {
      log.warn("Node did not stop cleanly: {}", e.toString());
    }
    closeQuietly(kafka);
    closeQuietly(mqtt);
    closeQuietly(postgres);
    closeQuietly(mail);
    log.info("Fleetplane local mode stopped");
  }

  private static void closeQuietly(AutoCloseable closeable) {
    if (closeable == null) {
      return;
    }
    try {
      closeable.close();
    } catch (Exception e) {
      log.warn("Stopping {} failed: {}", closeable.getClass().getSimpleName(), e.toString());
    }
  }
}
