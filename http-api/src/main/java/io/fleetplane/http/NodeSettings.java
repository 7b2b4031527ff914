package io.fleetplane.http;

import com.typesafe.config.Config;
import java.time.Duration;

/** What the node runs and where it listens; see this module's reference.conf. */
public record NodeSettings(
    String httpHost,
    int httpPort,
    Duration askTimeout,
    boolean runBridge,
    boolean runRegistry,
    boolean selfJoinCluster,
    boolean kamonAgent) {

  public static NodeSettings fromConfig(Config config) {
    Config c = config.getConfig("fleetplane.node");
    return new NodeSettings(
        c.getString("http.host"),
        c.getInt("http.port"),
        c.getDuration("http.ask-timeout"),
        c.getBoolean("run-bridge"),
        c.getBoolean("run-registry"),
        c.getBoolean("cluster.self-join"),
        c.getBoolean("metrics.kamon-agent"));
  }
}
