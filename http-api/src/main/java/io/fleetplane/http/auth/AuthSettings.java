package io.fleetplane.http.auth;

import com.typesafe.config.Config;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * How the operator API verifies bearer tokens ({@code fleetplane.node.http.auth}, see this
 * module's reference.conf). Exactly one key source must be configured: an unauthenticated API is
 * never a default.
 *
 * @param hmacSecret an HMAC secret given inline (at least 32 bytes)
 * @param hmacSecretFile a file whose trimmed content is the HMAC secret (local mode writes one)
 * @param rsaPublicKeyFile a PEM public key ({@code BEGIN PUBLIC KEY}) verifying RS/PS tokens
 * @param jwksFile a JWK set (RSA or EC public keys) selected by the token's {@code kid}
 * @param issuer when present, the {@code iss} every token must carry
 * @param audience when present, an {@code aud} every token must contain
 * @param clockSkew tolerance for {@code exp}/{@code nbf} between the issuer's clock and ours
 * @param realm the realm named in {@code WWW-Authenticate} challenges
 */
public record AuthSettings(
    Optional<String> hmacSecret,
    Optional<Path> hmacSecretFile,
    Optional<Path> rsaPublicKeyFile,
    Optional<Path> jwksFile,
    Optional<String> issuer,
    Optional<String> audience,
    Duration clockSkew,
    String realm) {

  public static final String PATH = "fleetplane.node.http.auth";

  public static AuthSettings fromConfig(Config config) {
    Config c = config.getConfig(PATH);
    return new AuthSettings(
        text(c, "hmac-secret"),
        text(c, "hmac-secret-file").map(Path::of),
        text(c, "rsa-public-key-file").map(Path::of),
        text(c, "jwks-file").map(Path::of),
        text(c, "issuer"),
        text(c, "audience"),
        c.getDuration("clock-skew"),
        c.getString("realm"));
  }

  /** The configured key sources by key name; a valid configuration has exactly one. */
  List<String> keySources() {
    List<String> sources = new ArrayList<>();
    hmacSecret.ifPresent(s -> sources.add("hmac-secret"));
    hmacSecretFile.ifPresent(s -> sources.add("hmac-secret-file"));
    rsaPublicKeyFile.ifPresent(s -> sources.add("rsa-public-key-file"));
    jwksFile.ifPresent(s -> sources.add("jwks-file"));
    return sources;
  }

  private static Optional<String> text(Config c, String key) {
    return c.hasPath(key) && !c.getString(key).isBlank() ? Optional.of(c.getString(key).trim()) : Optional.empty();
  }

  /** The HMAC key, inline or read from its file; empty when tokens are verified with RSA/JWKS keys. */
  public Optional<byte[]> hmacKey() throws java.io.IOException {
    if (hmacSecret.isPresent()) {
      return Optional.of(hmacSecret.get().getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }
    if (hmacSecretFile.isPresent()) {
      return Optional.of(TokenVerifier.readHmacSecret(hmacSecretFile.get()));
    }
    return Optional.empty();
  }
}
