package io.fleetplane.http;

import io.fleetplane.http.auth.Caller;
import io.fleetplane.http.auth.Scope;
import io.fleetplane.http.auth.TokenMinter;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;

/** Tokens for test nodes: every node a fixture starts verifies with {@link #SECRET}. */
final class TestTokens {

  static final String SECRET = "fleetplane-test-secret-0123456789abcdef";
  private static final TokenMinter MINTER = TokenMinter.hmac(SECRET.getBytes(StandardCharsets.UTF_8));
  private static final String ADMIN = token(Set.of(Scope.ADMIN), List.of(Caller.ALL_RAES));

  private TestTokens() {}

  /** Every scope, every RAE. */
  static String admin() {
    return ADMIN;
  }

  static String token(Set<Scope> scopes, List<String> raes) {
    return MINTER.mint(TokenMinter.Grant.of("test", scopes, raes, Duration.ofHours(1)));
  }

  static TokenMinter minter() {
    return MINTER;
  }

  /** The config that makes a node accept these tokens. */
  static Map<String, Object> config() {
    return Map.of("fleetplane.node.http.auth.hmac-secret", SECRET);
  }
}
