package io.fleetplane.http.auth;

import com.nimbusds.jose.JOSEException;
import com.nimbusds.jose.JOSEObjectType;
import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.JWSSigner;
import com.nimbusds.jose.crypto.MACSigner;
import com.nimbusds.jose.crypto.RSASSASigner;
import com.nimbusds.jose.jwk.RSAKey;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Date;
import java.util.List;
import java.util.Optional;
import java.util.UUID;

/**
 * Mints bearer tokens the node accepts: for local mode's admin token, {@code ./fleetplane token}
 * and tests. Production deployments usually get tokens from their identity provider instead and
 * configure its public keys ({@code rsa-public-key-file} or {@code jwks-file}).
 */
public final class TokenMinter {

  /** What a token grants. {@code raes} may hold {@link Caller#ALL_RAES}. */
  public record Grant(String subject, Collection<Scope> scopes, Collection<String> raes, Duration ttl,
      Optional<String> issuer, Optional<String> audience) {

    public static Grant of(String subject, Collection<Scope> scopes, Collection<String> raes, Duration ttl) {
      return new Grant(subject, scopes, raes, ttl, Optional.empty(), Optional.empty());
    }
  }

  private final JWSSigner signer;
  private final JWSAlgorithm algorithm;
  private final Optional<String> keyId;

  private TokenMinter(JWSSigner signer, JWSAlgorithm algorithm, Optional<String> keyId) {
    this.signer = signer;
    this.algorithm = algorithm;
    this.keyId = keyId;
  }

  /** HS256 with a secret of at least {@link TokenVerifier#MIN_HMAC_SECRET_BYTES} bytes. */
  public static TokenMinter hmac(byte[] secret) {
    try {
      return new TokenMinter(new MACSigner(secret), JWSAlgorithm.HS256, Optional.empty());
    } catch (JOSEException e) {
      throw new IllegalArgumentException("HMAC secret too short: " + e.getMessage(), e);
    }
  }

  /** RS256 with an RSA private key; its {@code kid}, when set, selects the key in a JWK set. */
  public static TokenMinter rsa(RSAKey privateKey) {
    try {
      return new TokenMinter(new RSASSASigner(privateKey), JWSAlgorithm.RS256, Optional.ofNullable(privateKey.getKeyID()));
    } catch (JOSEException e) {
      throw new IllegalArgumentException("not an RSA private key: " + e.getMessage(), e);
    }
  }

  public String mint(Grant grant) {
    Instant now = Instant.now();
    List<String> scopes = new ArrayList<>();
    grant.scopes().forEach(s -> scopes.add(s.claimValue()));
    JWTClaimsSet.Builder claims = new JWTClaimsSet.Builder()
        .subject(grant.subject())
        .jwtID(UUID.randomUUID().toString())
        .issueTime(Date.from(now))
        .expirationTime(Date.from(now.plus(grant.ttl())))
        .claim("scope", String.join(" ", scopes))
        .claim("raes", List.copyOf(grant.raes()));
    grant.issuer().ifPresent(claims::issuer);
    grant.audience().ifPresent(claims::audience);
    JWSHeader.Builder header = new JWSHeader.Builder(algorithm).type(JOSEObjectType.JWT);
    keyId.ifPresent(header::keyID);
    SignedJWT jwt = new SignedJWT(header.build(), claims.build());
    try {
      jwt.sign(signer);
    } catch (JOSEException e) {
      throw new IllegalStateException("signing failed: " + e.getMessage(), e);
    }
    return jwt.serialize();
  }
}
