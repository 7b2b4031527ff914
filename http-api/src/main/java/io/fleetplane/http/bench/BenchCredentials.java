package io.fleetplane.http.bench;

import io.fleetplane.http.auth.Caller;
import io.fleetplane.http.auth.Scope;
import io.fleetplane.http.auth.TokenMinter;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Map;

/**
 * A throwaway HMAC key per benchmark process: the node refuses to start with an open API, and the
 * canary needs a token to read sessions back. Nothing outlives the process.
 */
final class BenchCredentials {

  private static final String SECRET = newSecret();

  private BenchCredentials() {}

  /** Makes the node's config verify tokens signed with this process's key. */
  static void configure(Map<String, Object> nodeConfig) {
    nodeConfig.put("fleetplane.node.http.auth.hmac-secret", SECRET);
  }

  /** A devices:read token over every RAE, valid for the longest benchmark run. */
  static String readToken() {
    return TokenMinter.hmac(SECRET.getBytes(StandardCharsets.UTF_8)).mint(TokenMinter.Grant.of(
        "fleetplane-bench", List.of(Scope.DEVICES_READ), List.of(Caller.ALL_RAES), Duration.ofHours(12)));
  }

  private static String newSecret() {
    byte[] bytes = new byte[32];
    new SecureRandom().nextBytes(bytes);
    return Base64.getUrlEncoder().withoutPadding().encodeToString(bytes);
  }
}
