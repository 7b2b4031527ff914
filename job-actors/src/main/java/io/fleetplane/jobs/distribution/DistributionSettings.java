package io.fleetplane.jobs.distribution;

import com.typesafe.config.Config;
import java.nio.file.Path;
import java.time.Duration;

/** Settings of distribution jobs; see fleetplane.jobs.distribution in reference.conf. */
public record DistributionSettings(
    Path storeDir,
    int parallelism,
    int inFlightPerThread,
    int awaitingResults,
    int maxItems,
    long maxDocumentBytes,
    long sourceCacheBytes,
    Duration defaultLinkTtl,
    String publicBaseUrl,
    String secret,
    Duration askTimeout,
    int maxResultsPerWrite,
    int retryMaxAttempts,
    Duration retryMinBackoff,
    Duration retryMaxBackoff,
    boolean resumeOnStart,
    Smtp smtp,
    Push push) {

  /**
   * Push notifications (sent by the node's {@code PushNotifier}).
   *
   * @param topic the Kafka topic of every push record
   * @param deviceCommandTimeout {@code timeoutMs} of the command record that carries a notification to a device session
   * @param sendTimeout how long one attempt waits for Kafka's acknowledgement
   */
  public record Push(String topic, Duration deviceCommandTimeout, Duration sendTimeout) {}

  public record Smtp(String host, int port, String from, String user, String password, boolean startTls,
      Duration timeout) {
    @Override
    public String toString() {
      return "Smtp[" + host + ":" + port + ", from=" + from + ", user=" + user + "]";
    }
  }

  @Override
  public String toString() {
    // Never print the secret or the SMTP password: settings are logged.
    return "DistributionSettings[storeDir=" + storeDir + ", parallelism=" + parallelism + ", maxItems="
        + maxItems + ", publicBaseUrl=" + publicBaseUrl + ", " + smtp + "]";
  }

  private static int positive(Config c, String key) {
    int value = c.getInt(key);
    if (value < 1) {
      throw new IllegalArgumentException("fleetplane.jobs.distribution." + key + " must be at least 1, was " + value);
    }
    return value;
  }

  public static DistributionSettings fromConfig(Config config) {
    Config c = config.getConfig("fleetplane.jobs.distribution");
    int parallelism = c.getInt("parallelism");
    Config s = c.getConfig("smtp");
    return new DistributionSettings(
        Path.of(c.getString("store-dir")),
        parallelism > 0 ? parallelism : Runtime.getRuntime().availableProcessors(),
        c.getInt("in-flight-per-thread"),
        positive(c, "awaiting-results"),
        c.getInt("max-items"),
        c.getBytes("max-document-bytes"),
        c.getBytes("source-cache-size"),
        c.getDuration("default-link-ttl"),
        c.getString("public-base-url").replaceAll("/+$", ""),
        c.getString("secret"),
        c.getDuration("ask-timeout"),
        c.getInt("max-results-per-write"),
        c.getInt("retry.max-attempts"),
        c.getDuration("retry.min-backoff"),
        c.getDuration("retry.max-backoff"),
        c.getBoolean("resume-on-start"),
        new Smtp(s.getString("host"), s.getInt("port"), s.getString("from"), s.getString("user"),
            s.getString("password"), s.getBoolean("start-tls"), s.getDuration("timeout")),
        new Push(c.getString("push.topic"), c.getDuration("push.device-command-timeout"),
            c.getDuration("push.send-timeout")));
  }
}
