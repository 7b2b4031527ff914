package io.fleetplane.testkit.canary;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A canary run's verdict and the figures behind it; serialised as the run's JSON report (and by
 * the node at {@code GET /api/v1/canary/runs}). Figures a run could not measure (the node does not
 * export that metric) are null, never zero.
 *
 * @param failures each threshold the run missed, in words; empty when it passed
 * @param diagnosis where messages stopped, when some did (else null)
 * @param pipeline how many of the run's messages reached each stage, in order
 */
public record CanaryResult(
    String runId,
    String startedAt,
    String finishedAt,
    double durationSeconds,
    boolean passed,
    List<String> failures,
    String diagnosis,
    Shape shape,
    Connections connections,
    Messages messages,
    Latency latency,
    Lag lag,
    List<Stage> pipeline,
    List<Sample> samples) {

  /** What was run. */
  public record Shape(int clients, int rampPerSecond, int messagesPerClient, int messagesPerSession,
      int payloadBytes, long publishIntervalMillis, String mqttVersion, String mqttUri, String httpUrl) {}

  public record Connections(int attempted, int succeeded, int failed, Map<String, Integer> failureReasons) {}

  /** What was published and verified; {@code sessionReads}: GETs of sessions made to verify them. */
  public record Messages(long sent, long acknowledged, long failed, Map<String, Integer> failureReasons,
      int sessionsVerified, int sessionsUnverified, Map<String, Integer> unverifiedReasons, long sessionReads) {}

  /** Last publish of a session -> applied by its entity (visible over HTTP), per verified session. */
  public record Latency(int sessions, Double p50Millis, Double p95Millis, Double p99Millis, Double maxMillis) {}

  /**
   * Registry consumer lag from the node's metrics during the run.
   *
   * @param secondsBackToZero from the peak to the first reading of zero after it
   */
  public record Lag(String metric, Long peak, Double secondsBackToZero, boolean backToZero) {}

  /** Messages of this run that reached a stage of the pipeline; null when not measurable. */
  public record Stage(String stage, Long messages) {}

  /** One reading over time, for the chart. */
  public record Sample(double atSeconds, int connected, long acknowledged, int verified, Double lag,
      Double ackedPerSecond, Double processedPerSecond) {}

  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  public String toJson() {
    try {
      return JSON.writeValueAsString(this);
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new IllegalStateException("a result of records always serialises", e);
    }
  }

  public static CanaryResult fromJson(String json) throws java.io.IOException {
    return JSON.readValue(json, CanaryResult.class);
  }

  /** The verdict as a plain-text table for a terminal or a CI log. */
  public String table() {
    StringBuilder t = new StringBuilder();
    t.append(String.format(Locale.ROOT, "Canary run %s: %s (%.1f s)%n", runId, passed ? "PASS" : "FAIL", durationSeconds));
    row(t, "clients", shape.clients() + " x " + shape.messagesPerSession() + " messages of ~" + shape.payloadBytes()
        + " B, MQTT " + shape.mqttVersion() + (shape.rampPerSecond() == 0 ? ", all at once" : ", " + shape.rampPerSecond() + "/s"));
    row(t, "connections", connections.attempted() + " attempted, " + connections.succeeded() + " succeeded, "
        + connections.failed() + " failed" + reasons(connections.failureReasons()));
    row(t, "messages", messages.sent() + " sent, " + messages.acknowledged() + " acknowledged, " + messages.failed()
        + " failed" + reasons(messages.failureReasons()));
    row(t, "sessions", messages.sessionsVerified() + " verified over HTTP (" + messages.sessionReads() + " reads), "
        + messages.sessionsUnverified() + " not" + reasons(messages.unverifiedReasons()));
    row(t, "latency", latency.sessions() == 0 ? "none measured" : String.format(Locale.ROOT,
        "publish -> visible p50 %.0f ms, p95 %.0f ms, p99 %.0f ms, max %.0f ms", latency.p50Millis(),
        latency.p95Millis(), latency.p99Millis(), latency.maxMillis()));
    row(t, "consumer lag", lag.peak() == null ? "not measured (" + lag.metric() + " not exported)"
        : "peak " + lag.peak() + ", " + (lag.backToZero()
            ? String.format(Locale.ROOT, "back to zero %.1f s after the peak", lag.secondsBackToZero())
            : "NOT back to zero"));
    StringBuilder stages = new StringBuilder();
    for (Stage s : pipeline) {
      stages.append(stages.isEmpty() ? "" : " -> ").append(s.stage()).append(' ')
          .append(s.messages() == null ? "?" : s.messages());
    }
    row(t, "pipeline", stages.toString());
    if (diagnosis != null) {
      row(t, "diagnosis", diagnosis);
    }
    for (String failure : failures) {
      row(t, "FAILED", failure);
    }
    return t.toString();
  }

  private static void row(StringBuilder t, String name, String value) {
    t.append(String.format(Locale.ROOT, "  %-13s %s%n", name, value));
  }

  private static String reasons(Map<String, Integer> reasons) {
    if (reasons.isEmpty()) {
      return "";
    }
    StringBuilder r = new StringBuilder(" (");
    reasons.forEach((reason, n) -> r.append(r.length() > 2 ? "; " : "").append(n).append(" x ").append(reason));
    return r.append(')').toString();
  }
}
