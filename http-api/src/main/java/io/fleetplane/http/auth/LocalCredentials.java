package io.fleetplane.http.auth;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Set;

/**
 * Local mode's credentials under the data directory: {@code signing.key} (a random HMAC secret,
 * created once, owner-only) and {@code admin.token} (every scope, every RAE). The token is kept
 * across restarts while it still verifies with the key and is re-minted when it expired or the key
 * changed, so {@code $(cat <data dir>/admin.token)} always works after a start.
 *
 * @param keyFile the HMAC secret the node verifies with and {@code ./fleetplane token} signs with
 * @param adminTokenFile the admin token
 */
public record LocalCredentials(Path keyFile, Path adminTokenFile) {

  public static final String KEY_FILE = "signing.key";
  public static final String ADMIN_TOKEN_FILE = "admin.token";
  /** Long enough not to annoy on a workstation; local mode re-mints it at start when expired. */
  public static final Duration ADMIN_TOKEN_TTL = Duration.ofDays(30);

  public static LocalCredentials ensure(Path dataDir) throws IOException {
    Path key = dataDir.resolve(KEY_FILE);
    Path token = dataDir.resolve(ADMIN_TOKEN_FILE);
    if (!Files.exists(key)) {
      byte[] random = new byte[32];
      new SecureRandom().nextBytes(random);
      try {
        writeOwnerOnly(key, Base64.getUrlEncoder().withoutPadding().encodeToString(random));
      } catch (FileAlreadyExistsException e) {
        // another process created it first: use theirs
      }
    }
    byte[] secret = TokenVerifier.readHmacSecret(key);
    if (!Files.exists(token) || !verifies(secret, Files.readString(token).trim())) {
      String admin = TokenMinter.hmac(secret).mint(TokenMinter.Grant.of("local-admin", Set.of(Scope.ADMIN),
          List.of(Caller.ALL_RAES), ADMIN_TOKEN_TTL));
      Files.deleteIfExists(token);
      writeOwnerOnly(token, admin);
    }
    return new LocalCredentials(key, token);
  }

  private static boolean verifies(byte[] secret, String token) {
    try {
      AuthSettings settings = new AuthSettings(java.util.Optional.of(new String(secret, StandardCharsets.UTF_8)),
          java.util.Optional.empty(), java.util.Optional.empty(), java.util.Optional.empty(), java.util.Optional.empty(),
          java.util.Optional.empty(), Duration.ZERO, "fleetplane");
      // Still valid in a day: do not hand out a token that dies during the session.
      Caller caller = new TokenVerifier(settings).verify(token);
      return caller.has(Scope.ADMIN) && caller.allRaes() && !expiresWithin(token, Duration.ofDays(1));
    } catch (TokenVerifier.InvalidTokenException e) {
      return false;
    }
  }

  private static boolean expiresWithin(String token, Duration margin) {
    try {
      java.util.Date exp = com.nimbusds.jwt.SignedJWT.parse(token).getJWTClaimsSet().getExpirationTime();
      return exp == null || exp.toInstant().isBefore(java.time.Instant.now().plus(margin));
    } catch (java.text.ParseException e) {
      return true;
    }
  }

  private static void writeOwnerOnly(Path file, String content) throws IOException {
    try {
      Files.createFile(file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
    } catch (UnsupportedOperationException e) {
      Files.createFile(file);
    }
    Files.writeString(file, content + "\n", StandardCharsets.UTF_8, StandardOpenOption.TRUNCATE_EXISTING);
  }
}
