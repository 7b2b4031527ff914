package io.fleetplane.http;

import com.typesafe.config.Config;
import java.util.concurrent.atomic.AtomicBoolean;
import kamon.Kamon;
import kamon.prometheus.PrometheusReporter;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Starts Kamon once per JVM. The node serves Prometheus text on its own HTTP port ({@code
 * /metrics}) from Kamon's Prometheus reporter, instead of Kamon's embedded server, which would
 * bind another port (0.0.0.0 by default, STACK.md trap 7).
 */
final class Observability {

  private static final Logger log = LoggerFactory.getLogger(Observability.class);
  private static final AtomicBoolean started = new AtomicBoolean();

  private Observability() {}

  static void start(Config config, boolean attachAgent) {
    if (!started.compareAndSet(false, true)) {
      return;
    }
    if (attachAgent) {
      // Attaches the Kanela agent (no -javaagent flag needed) for Akka, Kafka and HTTP metrics.
      Kamon.init(config);
    } else {
      Kamon.initWithoutAttaching(config);
    }
    log.info("Kamon started (agent {}), Prometheus text served at /metrics", attachAgent ? "attached" : "not attached");
  }

  /** The latest Prometheus scrape, or empty before Kamon's first tick. */
  static String prometheusText() {
    return PrometheusReporter.latestScrapeData().getOrElse(() -> "");
  }
}
