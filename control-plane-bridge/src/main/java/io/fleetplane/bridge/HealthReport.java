package io.fleetplane.bridge;

import java.util.Map;

/** What {@code GET /health} of a bridge process serves: a verdict and its JSON body. */
public interface HealthReport {

  boolean healthy();

  Map<String, Object> toJson();
}
