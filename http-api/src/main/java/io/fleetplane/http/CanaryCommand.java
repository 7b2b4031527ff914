package io.fleetplane.http;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.fleetplane.testkit.canary.Canary;
import io.fleetplane.testkit.canary.CanaryReport;
import io.fleetplane.testkit.canary.CanaryResult;
import io.fleetplane.testkit.canary.CanarySettings;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code ./fleetplane canary}: one canary run against a running platform, judged, reported as a
 * table, a JSON file and a PNG chart. Exit code 0 on a pass verdict, 1 on a fail, 2 when it could
 * not run, so it can gate a pipeline. Unset options keep testkit's {@code fleetplane.canary}
 * defaults (3,000 clients, a flash burst of ~1 KB messages).
 */
@Command(name = "canary", mixinStandardHelpOptions = true,
    description = "Run a canary: many simulated MQTT devices publish at once, then every session's final "
        + "state is checked over the HTTP API. Prints the verdict, writes JSON and PNG reports; exit code 0 "
        + "on pass, 1 on fail.")
final class CanaryCommand implements Callable<Integer> {

  @Option(names = "--clients", description = "Simulated devices (default 3000).")
  Integer clients;

  @Option(names = "--http-url", description = "The node's HTTP API (default http://127.0.0.1:8080).")
  String httpUrl;

  @Option(names = {"--mqtt-url", "--mqtt-uri"}, description = "The MQTT broker the devices use (default tcp://127.0.0.1:1883).")
  String mqttUrl;

  @Option(names = "--token", paramLabel = "FILE", description = "File holding a bearer token for the HTTP API.")
  Path tokenFile;

  @Option(names = "--report-dir", defaultValue = "canary-reports", paramLabel = "DIR",
      description = "Where canary-<run>.json and .png go (default: ${DEFAULT-VALUE}).")
  Path reportDir;

  @Option(names = "--messages", description = "Update/checkpoint messages per client (default 10).")
  Integer messages;

  @Option(names = "--payload-bytes", description = "Approximate payload size (default 1024).")
  Integer payloadBytes;

  @Option(names = "--ramp", paramLabel = "PER_SECOND", description = "Connect this many clients per second (default 0: all at once).")
  Integer ramp;

  @Option(names = "--interval-ms", description = "Pause between one client's messages (default 0: flash).")
  Integer intervalMillis;

  @Option(names = "--checkpoint-every", description = "Every n-th message is a checkpoint (default 5; 0 = never).")
  Integer checkpointEvery;

  @Option(names = "--no-connection-events", description = "Do not send connected/disconnected events.")
  boolean noConnectionEvents;

  @Option(names = "--mqtt-version", description = "3.1.1 or 5 (default 3.1.1).")
  String mqttVersion;

  @Option(names = "--mqtt-threads", description = "Threads for blocking MQTT connects (default 64).")
  Integer mqttThreads;

  @Option(names = "--verify-timeout-s", description = "Seconds a session may take to show its final state (default 60).")
  Integer verifyTimeoutSeconds;

  @Option(names = "--max-p99-ms", description = "Fail when p99 publish->visible latency exceeds this (default 30000).")
  Integer maxP99Millis;

  @Option(names = "--max-failed-connections", description = "Connections allowed to fail (default 0).")
  Integer maxFailedConnections;

  @Option(names = "--max-unverified", description = "Sessions allowed to miss their final state (default 0).")
  Integer maxUnverified;

  @Override
  public Integer call() {
    CanarySettings settings;
    try {
      settings = CanarySettings.fromConfig(config());
    } catch (Exception e) {
      System.err.println("canary: " + e.getMessage());
      return 2;
    }
    System.out.printf("Canary: %d clients -> %s, checked at %s%n", settings.clients(), settings.mqttUri(), settings.httpUrl());
    CanaryResult result;
    try {
      result = Canary.runStandalone(ConfigFactory.load(), settings, p -> System.out.println("  " + p.line()));
    } catch (RuntimeException e) {
      System.err.println("canary could not run: " + e);
      return 2;
    }
    System.out.println();
    System.out.print(result.table());
    try {
      CanaryReport.Files files = CanaryReport.write(result, reportDir);
      System.out.printf("Report: %s%nChart:  %s%n", files.json().toAbsolutePath(), files.png().toAbsolutePath());
    } catch (Exception | LinkageError e) {
      System.err.println("canary: could not write the report to " + reportDir + ": " + e);
      return 2;
    }
    return result.passed() ? 0 : 1;
  }

  /** The options over testkit's defaults. */
  Config config() throws java.io.IOException {
    Map<String, Object> o = new HashMap<>();
    put(o, "clients", clients);
    put(o, "http-url", httpUrl);
    put(o, "mqtt-uri", mqttUrl);
    if (tokenFile != null) {
      o.put("fleetplane.canary.token", Files.readString(tokenFile, StandardCharsets.UTF_8).trim());
    }
    put(o, "messages-per-client", messages);
    put(o, "payload-bytes", payloadBytes);
    put(o, "ramp-per-second", ramp);
    if (intervalMillis != null) {
      o.put("fleetplane.canary.publish-interval", intervalMillis + " ms");
    }
    put(o, "checkpoint-every", checkpointEvery);
    if (noConnectionEvents) {
      o.put("fleetplane.canary.connection-events", false);
    }
    put(o, "mqtt-version", mqttVersion);
    put(o, "mqtt-threads", mqttThreads);
    if (verifyTimeoutSeconds != null) {
      o.put("fleetplane.canary.verify-timeout", verifyTimeoutSeconds + " s");
    }
    if (maxP99Millis != null) {
      o.put("fleetplane.canary.thresholds.max-p99-latency", maxP99Millis + " ms");
    }
    put(o, "thresholds.max-failed-connections", maxFailedConnections);
    put(o, "thresholds.max-unverified-sessions", maxUnverified);
    return ConfigFactory.parseMap(o).withFallback(ConfigFactory.load());
  }

  private static void put(Map<String, Object> o, String key, Object value) {
    if (value != null) {
      o.put("fleetplane.canary." + key, value);
    }
  }
}
