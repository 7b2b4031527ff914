package io.fleetplane.http.commands;

import com.typesafe.config.Config;
import java.time.Duration;

/**
 * What the node's command API reads from {@code fleetplane.node.commands} (every key's unit and
 * trade-off is commented in http-api's reference.conf). The topics are the command bridge's.
 */
public record CommandSettings(
    Duration defaultTimeout,
    Duration maxTimeout,
    Duration replyGrace,
    int maxWaiting,
    Duration retention,
    Duration sweepInterval,
    String repliesGroupId,
    int dbPoolSize,
    int dbQueue,
    Duration minBackoff,
    Duration maxBackoff) {

  public static final String PATH = "fleetplane.node.commands";

  public static CommandSettings fromConfig(Config config) {
    Config c = config.getConfig(PATH);
    CommandSettings s = new CommandSettings(
        c.getDuration("default-timeout"),
        c.getDuration("max-timeout"),
        c.getDuration("reply-grace"),
        c.getInt("max-waiting"),
        c.getDuration("retention"),
        c.getDuration("sweep-interval"),
        c.getString("replies-group-id"),
        c.getInt("db.pool-size"),
        c.getInt("db.max-queued"),
        c.getDuration("replies-restart.min-backoff"),
        c.getDuration("replies-restart.max-backoff"));
    if (s.defaultTimeout.compareTo(s.maxTimeout) > 0) {
      throw new IllegalArgumentException(PATH + ".default-timeout must not exceed max-timeout");
    }
    return s;
  }
}
