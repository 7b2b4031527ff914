package io.fleetplane.testkit.canary;

/** Where a running canary is, reported every sample interval (for a progress line or a log). */
public record CanaryProgress(
    double atSeconds,
    int clients,
    int connected,
    int failedConnections,
    long acknowledged,
    long expectedMessages,
    int verified,
    int unverified,
    Double lag) {

  public String line() {
    return String.format(java.util.Locale.ROOT,
        "%5.1f s  connected %d/%d (%d failed)  acked %d/%d  verified %d/%d  lag %s",
        atSeconds, connected, clients, failedConnections, acknowledged, expectedMessages, verified + unverified,
        clients, lag == null ? "?" : String.valueOf(lag.longValue()));
  }
}
