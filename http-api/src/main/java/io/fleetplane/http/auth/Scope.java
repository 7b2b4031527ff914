package io.fleetplane.http.auth;

import java.util.Arrays;
import java.util.Optional;

/**
 * What a token allows, as named in its {@code scope} claim. {@link #ADMIN} implies every other
 * scope; no other scope implies another (write does not imply read: a CI job that only starts
 * jobs should not read the fleet).
 */
public enum Scope {
  DEVICES_READ("devices:read"),
  DEVICES_WRITE("devices:write"),
  JOBS_READ("jobs:read"),
  JOBS_WRITE("jobs:write"),
  WORKFLOWS_READ("workflows:read"),
  WORKFLOWS_WRITE("workflows:write"),
  ADMIN("admin");

  private final String claimValue;

  Scope(String claimValue) {
    this.claimValue = claimValue;
  }

  /** The name in the token's space-separated {@code scope} claim. */
  public String claimValue() {
    return claimValue;
  }

  public static Optional<Scope> parse(String claimValue) {
    return Arrays.stream(values()).filter(s -> s.claimValue.equals(claimValue)).findFirst();
  }

  @Override
  public String toString() {
    return claimValue;
  }
}
