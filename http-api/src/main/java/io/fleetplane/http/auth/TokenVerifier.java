package io.fleetplane.http.auth;

import com.nimbusds.jose.JOSEException;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.jwk.JWK;
import com.nimbusds.jose.jwk.JWKSet;
import com.nimbusds.jose.jwk.source.ImmutableJWKSet;
import com.nimbusds.jose.jwk.source.ImmutableSecret;
import com.nimbusds.jose.jwk.source.JWKSource;
import com.nimbusds.jose.proc.BadJOSEException;
import com.nimbusds.jose.proc.JWSKeySelector;
import com.nimbusds.jose.proc.JWSVerificationKeySelector;
import com.nimbusds.jose.proc.SecurityContext;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.proc.BadJWTException;
import com.nimbusds.jwt.proc.DefaultJWTClaimsVerifier;
import com.nimbusds.jwt.proc.DefaultJWTProcessor;
import com.nimbusds.jwt.proc.JWTClaimsSetVerifier;
import io.fleetplane.config.ids.RaeSerial;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.text.ParseException;
import java.time.Instant;
import java.util.Date;
import java.util.EnumSet;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * Verifies bearer JWTs with nimbus-jose-jwt against the one configured key (HMAC secret, RSA
 * public key or JWK set) and turns their claims into a {@link Caller}.
 *
 * <p>Claims: {@code exp} is required; {@code iss}/{@code aud} when configured; {@code scope} is
 * a space-separated string (RFC 8693) or an array; scopes this version does not know are ignored
 * (an identity provider adds its own, e.g. {@code openid}); {@code raes} is an array of RAE
 * serials, or {@code ["*"]} for every RAE; absent means none. The algorithm is taken from the key
 * kind, never from the token alone, so an RSA deployment cannot be fooled by an HS256 token signed
 * with its public key.
 */
public final class TokenVerifier {

  /** HMAC secrets shorter than this are guessable; HS256 needs 256 bits anyway. */
  public static final int MIN_HMAC_SECRET_BYTES = 32;

  /** A token that does not prove a caller; {@code expired} lets the client know to refresh. */
  public static class InvalidTokenException extends Exception {
    private final boolean expired;

    InvalidTokenException(String message, boolean expired) {
      super(message, null, false, false);
      this.expired = expired;
    }

    public boolean expired() {
      return expired;
    }
  }

  private final DefaultJWTProcessor<SecurityContext> processor = new DefaultJWTProcessor<>();

  public TokenVerifier(AuthSettings settings) {
    List<String> sources = settings.keySources();
    if (sources.size() != 1) {
      throw new IllegalStateException("The operator API needs exactly one token key under " + AuthSettings.PATH
          + " (hmac-secret, hmac-secret-file, rsa-public-key-file or jwks-file), found "
          + (sources.isEmpty() ? "none" : sources) + ". Local mode creates one; see README, Configuration.");
    }
    processor.setJWSKeySelector(keySelector(settings));
    processor.setJWTClaimsSetVerifier(claimsVerifier(settings));
  }

  /**
   * Tokens verified already, until their {@code exp} (at most {@link #CACHE_FOR_MILLIS}): an
   * operator's client sends the same token with every request, and parsing plus signature check
   * were the largest per-request cost after routing (JFR, {@code ./fleetplane bench http}). Keyed
   * by the exact token text, so a token differing in any byte is verified in full. Bounded: past
   * {@link #CACHE_MAX} entries it starts over, so a flood of distinct tokens costs verification
   * (as without the cache), never memory.
   */
  private final java.util.concurrent.ConcurrentHashMap<String, Verified> verified =
      new java.util.concurrent.ConcurrentHashMap<>();
  static final int CACHE_MAX = 10_000;
  static final long CACHE_FOR_MILLIS = 300_000;

  private record Verified(Caller caller, long validUntilMillis) {}

  /** The caller a token proves, or why it does not. */
  public Caller verify(String token) throws InvalidTokenException {
    long now = System.currentTimeMillis();
    Verified hit = verified.get(token);
    if (hit != null) {
      if (now < hit.validUntilMillis()) {
        return hit.caller();
      }
      verified.remove(token, hit);
    }
    return verifyFully(token);
  }

  private Caller verifyFully(String token) throws InvalidTokenException {
    long now = System.currentTimeMillis();
    JWTClaimsSet claims;
    try {
      claims = processor.process(token, null);
    } catch (ExpiredException e) {
      throw new InvalidTokenException("The token expired at " + e.expiredAt + ".", true);
    } catch (ParseException e) {
      throw new InvalidTokenException("The bearer token is not a JWT.", false);
    } catch (BadJOSEException | JOSEException e) {
      throw new InvalidTokenException("The token was rejected: " + e.getMessage(), false);
    }
    Caller caller = caller(claims);
    Date exp = claims.getExpirationTime(); // required: the claims verifier rejects tokens without one
    if (exp != null) {
      if (verified.size() >= CACHE_MAX) {
        verified.clear();
      }
      verified.put(token, new Verified(caller, Math.min(exp.getTime(), now + CACHE_FOR_MILLIS)));
    }
    return caller;
  }

  private static Caller caller(JWTClaimsSet claims) throws InvalidTokenException {
    Set<Scope> scopes = EnumSet.noneOf(Scope.class);
    Object scopeClaim = claims.getClaim("scope");
    Iterable<?> scopeValues = scopeClaim instanceof String text ? List.of(text.trim().split("\\s+"))
        : scopeClaim instanceof List<?> list ? list : List.of();
    for (Object value : scopeValues) {
      Scope.parse(String.valueOf(value)).ifPresent(scopes::add);
    }
    Object raeClaim = claims.getClaim("raes");
    Set<String> raes = new TreeSet<>();
    boolean all = false;
    if (raeClaim != null) {
      if (!(raeClaim instanceof List<?> list)) {
        throw new InvalidTokenException("The raes claim must be an array of RAE serials, or [\"*\"].", false);
      }
      for (Object value : list) {
        String serial = String.valueOf(value);
        if (serial.equals(Caller.ALL_RAES)) {
          all = true;
        } else if (RaeSerial.parse(serial).isPresent()) {
          raes.add(serial);
        } else {
          throw new InvalidTokenException("The raes claim holds something that is not a RAE serial.", false);
        }
      }
    }
    String subject = claims.getSubject() == null ? "unknown" : claims.getSubject();
    return new Caller(subject, scopes, new TreeSet<>(raes), all);
  }

  private static JWSKeySelector<SecurityContext> keySelector(AuthSettings settings) {
    try {
      java.util.Optional<byte[]> hmacKey = settings.hmacKey();
      if (hmacKey.isPresent()) {
        byte[] secret = hmacKey.get();
        if (secret.length < MIN_HMAC_SECRET_BYTES) {
          throw new IllegalStateException("The HMAC token secret must be at least " + MIN_HMAC_SECRET_BYTES
              + " bytes, it has " + secret.length + ".");
        }
        JWKSource<SecurityContext> source = new ImmutableSecret<>(secret);
        return new JWSVerificationKeySelector<>(JWSAlgorithm.Family.HMAC_SHA, source);
      }
      Set<JWSAlgorithm> algorithms = new HashSet<>(JWSAlgorithm.Family.RSA);
      JWKSet keys;
      if (settings.rsaPublicKeyFile().isPresent()) {
        JWK key = JWK.parseFromPEMEncodedObjects(Files.readString(settings.rsaPublicKeyFile().get()));
        if (key.isPrivate()) {
          throw new IllegalStateException("rsa-public-key-file holds a private key; give the node only the public key.");
        }
        // One key: whatever kid an identity provider puts in its tokens, this is the key.
        java.security.PublicKey publicKey = key.toRSAKey().toPublicKey();
        return (header, context) -> algorithms.contains(header.getAlgorithm()) ? List.of(publicKey) : List.of();
      } else {
        keys = JWKSet.load(settings.jwksFile().get().toFile());
        algorithms.addAll(JWSAlgorithm.Family.EC);
      }
      return new JWSVerificationKeySelector<>(algorithms, new ImmutableJWKSet<>(keys.toPublicJWKSet()));
    } catch (IOException | ParseException | JOSEException e) {
      throw new IllegalStateException("Cannot read the token key configured under " + AuthSettings.PATH + ": " + e, e);
    }
  }

  /** A secret file's content, trimmed (editors add newlines). */
  public static byte[] readHmacSecret(Path file) throws IOException {
    return Files.readString(file, StandardCharsets.UTF_8).trim().getBytes(StandardCharsets.UTF_8);
  }

  private static final class ExpiredException extends BadJWTException {
    final Instant expiredAt;

    ExpiredException(Instant expiredAt) {
      super("Expired JWT");
      this.expiredAt = expiredAt;
    }
  }

  private static JWTClaimsSetVerifier<SecurityContext> claimsVerifier(AuthSettings settings) {
    JWTClaimsSet.Builder exact = new JWTClaimsSet.Builder();
    settings.issuer().ifPresent(exact::issuer);
    DefaultJWTClaimsVerifier<SecurityContext> standard = new DefaultJWTClaimsVerifier<>(
        settings.audience().orElse(null), exact.build(), Set.of("exp"));
    int skewSeconds = (int) settings.clockSkew().toSeconds();
    standard.setMaxClockSkew(skewSeconds);
    // Our own expiry check first, so that an expired token gets its own problem code.
    return (claims, context) -> {
      Date exp = claims.getExpirationTime();
      if (exp != null && exp.toInstant().plusSeconds(skewSeconds).isBefore(Instant.now())) {
        throw new ExpiredException(exp.toInstant());
      }
      standard.verify(claims, context);
    };
  }
}
