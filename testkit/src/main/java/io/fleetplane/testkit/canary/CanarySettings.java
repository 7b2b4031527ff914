package io.fleetplane.testkit.canary;

import com.typesafe.config.Config;
import io.fleetplane.testkit.device.MqttProtocol;
import java.time.Duration;
import java.util.Optional;

/**
 * One canary run's shape, connection targets and pass/fail thresholds ({@code fleetplane.canary}
 * in testkit's reference.conf, where every key is explained).
 *
 * @param publishInterval pause between one client's messages; zero is a flash burst
 * @param checkpointEvery every n-th data message is a checkpoint; 0 = updates only
 * @param token bearer token for the HTTP API, if it needs one
 */
public record CanarySettings(
    int clients,
    int rampPerSecond,
    int messagesPerClient,
    Duration publishInterval,
    int payloadBytes,
    int checkpointEvery,
    boolean connectionEvents,
    MqttProtocol protocol,
    String mqttUri,
    String httpUrl,
    Optional<String> token,
    int mqttThreads,
    int httpConcurrency,
    Duration mqttTimeout,
    Duration verifyTimeout,
    Duration pollInterval,
    Duration sampleInterval,
    Duration runTimeout,
    Duration lagDrainTimeout,
    Thresholds thresholds) {

  /** What a run must achieve to pass. */
  public record Thresholds(int maxFailedConnections, int maxUnverifiedSessions, Duration maxP99Latency) {}

  public CanarySettings {
    if (clients < 1) {
      throw new IllegalArgumentException("clients must be at least 1, got " + clients);
    }
    if (messagesPerClient < 1) {
      throw new IllegalArgumentException("messages-per-client must be at least 1, got " + messagesPerClient);
    }
    if (payloadBytes < 64 || payloadBytes > 256 * 1024) {
      throw new IllegalArgumentException("payload-bytes must be 64..262144, got " + payloadBytes);
    }
    if (rampPerSecond < 0 || checkpointEvery < 0 || mqttThreads < 1 || httpConcurrency < 1) {
      throw new IllegalArgumentException("ramp-per-second and checkpoint-every must be >= 0, "
          + "mqtt-threads and http-concurrency >= 1");
    }
    if (httpUrl.endsWith("/")) {
      httpUrl = httpUrl.substring(0, httpUrl.length() - 1);
    }
  }

  /** Reads {@code fleetplane.canary} of a loaded configuration. */
  public static CanarySettings fromConfig(Config root) {
    Config c = root.getConfig("fleetplane.canary");
    String version = c.getString("mqtt-version");
    MqttProtocol protocol = switch (version) {
      case "3.1.1", "3" -> MqttProtocol.MQTT_3_1_1;
      case "5", "5.0" -> MqttProtocol.MQTT_5;
      default -> throw new IllegalArgumentException("fleetplane.canary.mqtt-version must be 3.1.1 or 5, got " + version);
    };
    String token = c.getString("token").trim();
    Config t = c.getConfig("thresholds");
    return new CanarySettings(
        c.getInt("clients"),
        c.getInt("ramp-per-second"),
        c.getInt("messages-per-client"),
        c.getDuration("publish-interval"),
        c.getInt("payload-bytes"),
        c.getInt("checkpoint-every"),
        c.getBoolean("connection-events"),
        protocol,
        c.getString("mqtt-uri"),
        c.getString("http-url"),
        token.isEmpty() ? Optional.empty() : Optional.of(token),
        c.getInt("mqtt-threads"),
        c.getInt("http-concurrency"),
        c.getDuration("mqtt-timeout"),
        c.getDuration("verify-timeout"),
        c.getDuration("poll-interval"),
        c.getDuration("sample-interval"),
        c.getDuration("run-timeout"),
        c.getDuration("lag-drain-timeout"),
        new Thresholds(t.getInt("max-failed-connections"), t.getInt("max-unverified-sessions"),
            t.getDuration("max-p99-latency")));
  }

  /** Messages each client publishes, connection events included. */
  public int messagesPerSession() {
    return messagesPerClient + (connectionEvents ? 2 : 0);
  }
}
