package io.fleetplane.config;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import java.util.Map;

/**
 * Loads the effective configuration, highest precedence first: explicit overrides, system
 * properties, {@code application.conf}, every module's {@code fleetplane-overrides.conf}, then
 * every {@code reference.conf}; resolved once at the end.
 *
 * <p>Two things make this more than {@link ConfigFactory#load()}:
 * <ul>
 *   <li>Modules change settings of other libraries (Akka's journal plugin, Kamon's reporter).
 *       {@code reference.conf} files merge in classpath order, so such a change placed there would
 *       lose to the library's own default whenever that library's jar comes first (it does with a
 *       {@code lib/*} classpath). Those changes live in {@code fleetplane-overrides.conf}, a layer
 *       of its own above all reference files.
 *   <li>Resolution happens after the merge: the files refer to keys such as
 *       {@code fleetplane.persistence.jdbc-url} that callers (tests, local mode) override.
 * </ul>
 */
public final class FleetplaneConfig {

  /** The resource, one per module, holding that module's changes to other libraries' settings. */
  public static final String LIBRARY_OVERRIDES = "fleetplane-overrides.conf";

  private FleetplaneConfig() {}

  public static Config load() {
    return load(Map.of());
  }

  public static Config load(Map<String, ?> overrides) {
    return load(ConfigFactory.parseMap(overrides));
  }

  public static Config load(Config overrides) {
    return overrides
        .withFallback(ConfigFactory.defaultOverrides())
        .withFallback(ConfigFactory.defaultApplication())
        .withFallback(ConfigFactory.parseResources(LIBRARY_OVERRIDES))
        .withFallback(ConfigFactory.defaultReferenceUnresolved())
        .resolve();
  }
}
