package io.fleetplane.jobs.distribution;

import akka.actor.typed.ActorSystem;
import akka.actor.typed.javadsl.Behaviors;
import akka.cluster.typed.Cluster;
import akka.cluster.typed.Join;
import com.icegreen.greenmail.util.GreenMail;
import com.icegreen.greenmail.util.ServerSetup;
import io.fleetplane.config.FleetplaneConfig;
import io.fleetplane.jobs.distribution.notify.SmtpNotifier;
import io.fleetplane.jobs.distribution.store.FileSystemDocumentStore;
import io.fleetplane.persistence.DatabaseMigrations;
import io.fleetplane.persistence.PersistenceSettings;
import io.fleetplane.testkit.Eventually;
import io.fleetplane.testkit.infra.FreePorts;
import io.fleetplane.testkit.infra.PostgresEndpoint;
import jakarta.mail.internet.MimeMessage;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** A node's distribution parts on a real PostgreSQL journal and a real in-process SMTP server. */
public final class DistributionFixture {

  private static final Pattern LINK = Pattern.compile("/d/(\\S+)");
  private static final Pattern PASSWORD = Pattern.compile("Password to open the document: (\\S+)");

  private DistributionFixture() {}

  public static void migrate(PostgresEndpoint db) {
    DatabaseMigrations.migrate(new PersistenceSettings(db.jdbcUrl(), db.user(), db.password(), 4, true,
        Duration.ofSeconds(10)));
  }

  public static GreenMail startSmtp(int port) {
    GreenMail mail = new GreenMail(new ServerSetup(port, FreePorts.LOOPBACK, ServerSetup.PROTOCOL_SMTP));
    mail.start();
    return mail;
  }

  public static Map<String, Object> config(PostgresEndpoint db, Path storeDir, int smtpPort, int parallelism) {
    Map<String, Object> c = new HashMap<>();
    c.put("akka.actor.provider", "cluster");
    c.put("akka.remote.artery.canonical.hostname", "127.0.0.1");
    c.put("akka.remote.artery.canonical.port", 0);
    c.put("akka.cluster.jmx.multi-mbeans-in-same-jvm", "on");
    c.put("akka.loglevel", "WARNING");
    c.put("fleetplane.persistence.jdbc-url", db.jdbcUrl());
    c.put("fleetplane.persistence.user", db.user());
    c.put("fleetplane.persistence.password", db.password());
    c.put("fleetplane.jobs.distribution.store-dir", storeDir.toString());
    c.put("fleetplane.jobs.distribution.parallelism", parallelism);
    c.put("fleetplane.jobs.distribution.retry.max-attempts", 3);
    c.put("fleetplane.jobs.distribution.retry.min-backoff", "50ms");
    c.put("fleetplane.jobs.distribution.retry.max-backoff", "200ms");
    c.put("fleetplane.jobs.distribution.smtp.host", FreePorts.LOOPBACK);
    c.put("fleetplane.jobs.distribution.smtp.port", smtpPort);
    c.put("fleetplane.jobs.distribution.smtp.timeout", "2s");
    c.put("fleetplane.jobs.distribution.public-base-url", "http://127.0.0.1:8080");
    c.put("fleetplane.jobs.distribution.secret", "test-secret-0123456789");
    return c;
  }

  /** A one-node cluster running distribution jobs with the given renderer. */
  public static ActorSystem<Void> startNode(Map<String, Object> config, CopyRenderer renderer) throws Exception {
    return startNode(config, renderer, io.fleetplane.jobs.distribution.notify.PushNotifier.UNAVAILABLE);
  }

  /** The same with a push channel. */
  public static ActorSystem<Void> startNode(Map<String, Object> config, CopyRenderer renderer,
      io.fleetplane.jobs.distribution.notify.PushNotifier push) throws Exception {
    ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), "distribution-it", FleetplaneConfig.load(config));
    Cluster cluster = Cluster.get(system);
    cluster.manager().tell(Join.create(cluster.selfMember().address()));
    DistributionSettings settings = DistributionSettings.fromConfig(system.settings().config());
    DistributionSettings.Smtp smtp = settings.smtp();
    Distributions.start(system, settings, new Distributions.Parts(new FileSystemDocumentStore(settings.storeDir()),
        new SmtpNotifier(smtp.host(), smtp.port(), smtp.from(), smtp.user(), smtp.password(), smtp.startTls(),
            smtp.timeout()), push, renderer));
    return system;
  }

  public static void stop(ActorSystem<?> system) throws Exception {
    system.terminate();
    system.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
  }

  public static <T> T await(CompletionStage<T> stage) throws Exception {
    return stage.toCompletableFuture().get(20, TimeUnit.SECONDS);
  }

  public static void eventually(String what, Duration timeout, BooleanSupplier condition) {
    Eventually.await(timeout, condition, () -> what);
  }

  /** The summary of a job, failing the test when it does not exist. */
  public static DistributionJob.Summary summary(Distributions d, String jobId) {
    try {
      return ((DistributionJob.SummaryFound) await(d.summary(jobId))).summary();
    } catch (Exception e) {
      throw new AssertionError("no summary for " + jobId, e);
    }
  }

  public static String body(MimeMessage message) throws Exception {
    return message.getContent().toString();
  }

  public static String linkToken(MimeMessage message) throws Exception {
    Matcher m = LINK.matcher(body(message));
    if (!m.find()) {
      throw new AssertionError("no link in " + body(message));
    }
    return m.group(1);
  }

  public static String password(MimeMessage message) throws Exception {
    Matcher m = PASSWORD.matcher(body(message));
    if (!m.find()) {
      throw new AssertionError("no password in " + body(message));
    }
    return m.group(1);
  }
}
