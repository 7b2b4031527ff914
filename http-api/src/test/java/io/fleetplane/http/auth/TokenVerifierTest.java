package io.fleetplane.http.auth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.nimbusds.jose.JWSAlgorithm;
import com.nimbusds.jose.JWSHeader;
import com.nimbusds.jose.crypto.MACSigner;
import com.nimbusds.jose.jwk.JWKSet;
import com.nimbusds.jose.jwk.RSAKey;
import com.nimbusds.jose.jwk.gen.RSAKeyGenerator;
import com.nimbusds.jwt.JWTClaimsSet;
import com.nimbusds.jwt.SignedJWT;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.Date;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Token verification by key kind, and claims to {@link Caller}, without a server. */
class TokenVerifierTest {

  private static final String SECRET = "unit-test-secret-0123456789abcdefghij";

  @TempDir
  Path dir;

  private static AuthSettings settings(Optional<String> secret, Optional<Path> secretFile, Optional<Path> pem,
      Optional<Path> jwks, Optional<String> issuer, Optional<String> audience) {
    return new AuthSettings(secret, secretFile, pem, jwks, issuer, audience, Duration.ofSeconds(30), "fleetplane");
  }

  private static AuthSettings hmac() {
    return settings(Optional.of(SECRET), Optional.empty(), Optional.empty(), Optional.empty(), Optional.empty(),
        Optional.empty());
  }

  private static TokenMinter hmacMinter() {
    return TokenMinter.hmac(SECRET.getBytes(StandardCharsets.UTF_8));
  }

  @Test
  void hmacTokensCarryScopesAndRaes() throws Exception {
    TokenVerifier verifier = new TokenVerifier(hmac());
    Caller caller = verifier.verify(hmacMinter().mint(TokenMinter.Grant.of("alice",
        Set.of(Scope.DEVICES_READ, Scope.JOBS_WRITE), List.of("RAE-1", "RAE-2"), Duration.ofMinutes(5))));
    assertEquals("alice", caller.subject());
    assertEquals(Set.of(Scope.DEVICES_READ, Scope.JOBS_WRITE), caller.scopes());
    assertTrue(caller.has(Scope.DEVICES_READ));
    assertFalse(caller.has(Scope.DEVICES_WRITE), "write is not implied by read, nor the other way");
    assertTrue(caller.mayAccess("RAE-2"));
    assertFalse(caller.mayAccess("RAE-3"));
    assertEquals(Optional.of(new java.util.TreeSet<>(Set.of("RAE-1", "RAE-2"))), caller.raeRestriction());

    Caller admin = verifier.verify(hmacMinter().mint(TokenMinter.Grant.of("root", Set.of(Scope.ADMIN),
        List.of(Caller.ALL_RAES), Duration.ofMinutes(5))));
    for (Scope scope : Scope.values()) {
      assertTrue(admin.has(scope), "admin implies " + scope);
    }
    assertTrue(admin.mayAccess("ANY-RAE"));
    assertEquals(Optional.empty(), admin.raeRestriction());
  }

  @Test
  void aVerifiedTokenIsRememberedButAnyOtherByteStringIsVerifiedInFull() throws Exception {
    TokenVerifier verifier = new TokenVerifier(hmac());
    String token = hmacMinter().mint(TokenMinter.Grant.of("carol", List.of(Scope.DEVICES_READ), List.of("RAE-1"),
        Duration.ofMinutes(10)));
    Caller first = verifier.verify(token);
    assertTrue(first == verifier.verify(token), "the second use of a token is served from the cache");
    String tampered = token.substring(0, token.length() - 2) + (token.endsWith("AA") ? "BB" : "AA");
    assertThrows(TokenVerifier.InvalidTokenException.class, () -> verifier.verify(tampered));
    String foreign = TokenMinter.hmac("another-secret-0123456789abcdefghijkl".getBytes(StandardCharsets.UTF_8))
        .mint(TokenMinter.Grant.of("carol", List.of(Scope.ADMIN), List.of("*"), Duration.ofMinutes(10)));
    assertThrows(TokenVerifier.InvalidTokenException.class, () -> verifier.verify(foreign));
    assertThrows(TokenVerifier.InvalidTokenException.class, () -> verifier.verify(foreign), "failures are not cached");
  }

  @Test
  void unknownScopesAreIgnoredAndScopeArraysAccepted() throws Exception {
    TokenVerifier verifier = new TokenVerifier(hmac());
    Caller caller = verifier.verify(sign(new JWTClaimsSet.Builder().subject("s").claim("scope", List.of("openid",
        "workflows:read")).expirationTime(in(60)).build()));
    assertEquals(Set.of(Scope.WORKFLOWS_READ), caller.scopes());
    assertEquals(Set.of(), caller.raeSerials(), "no raes claim: no RAE");
    assertFalse(caller.allRaes());
  }

  @Test
  void rejectsExpiredMissingExpBadRaesWrongKeyAndTooShortSecrets() throws Exception {
    TokenVerifier verifier = new TokenVerifier(hmac());
    TokenVerifier.InvalidTokenException expired = assertThrows(TokenVerifier.InvalidTokenException.class, () ->
        verifier.verify(hmacMinter().mint(TokenMinter.Grant.of("s", Set.of(Scope.ADMIN), List.of("*"),
            Duration.ofMinutes(-2)))));
    assertTrue(expired.expired());
    TokenVerifier.InvalidTokenException noExp = assertThrows(TokenVerifier.InvalidTokenException.class, () ->
        verifier.verify(sign(new JWTClaimsSet.Builder().subject("s").claim("scope", "admin").build())));
    assertFalse(noExp.expired());
    assertThrows(TokenVerifier.InvalidTokenException.class, () -> verifier.verify(sign(new JWTClaimsSet.Builder()
        .claim("raes", "RAE-1").expirationTime(in(60)).build())), "raes must be an array");
    assertThrows(TokenVerifier.InvalidTokenException.class, () -> verifier.verify(sign(new JWTClaimsSet.Builder()
        .claim("raes", List.of("fleet/#")).expirationTime(in(60)).build())), "raes must hold serials");
    String other = TokenMinter.hmac("a-different-secret-0123456789abcdefghij".getBytes(StandardCharsets.UTF_8))
        .mint(TokenMinter.Grant.of("s", Set.of(Scope.ADMIN), List.of("*"), Duration.ofMinutes(5)));
    assertThrows(TokenVerifier.InvalidTokenException.class, () -> verifier.verify(other));
    assertThrows(TokenVerifier.InvalidTokenException.class, () -> verifier.verify("a.b.c"));
    assertThrows(IllegalStateException.class, () -> new TokenVerifier(settings(Optional.of("short"), Optional.empty(),
        Optional.empty(), Optional.empty(), Optional.empty(), Optional.empty())));
  }

  @Test
  void exactlyOneKeySourceIsRequired() throws Exception {
    IllegalStateException none = assertThrows(IllegalStateException.class, () -> new TokenVerifier(settings(
        Optional.empty(), Optional.empty(), Optional.empty(), Optional.empty(), Optional.empty(), Optional.empty())));
    assertTrue(none.getMessage().contains("found none"), none.getMessage());
    Path file = Files.writeString(dir.resolve("secret"), SECRET + "\n");
    IllegalStateException two = assertThrows(IllegalStateException.class, () -> new TokenVerifier(settings(
        Optional.of(SECRET), Optional.of(file), Optional.empty(), Optional.empty(), Optional.empty(), Optional.empty())));
    assertTrue(two.getMessage().contains("hmac-secret-file"), two.getMessage());
    // The file's trailing newline is not part of the secret.
    TokenVerifier fromFile = new TokenVerifier(settings(Optional.empty(), Optional.of(file), Optional.empty(),
        Optional.empty(), Optional.empty(), Optional.empty()));
    fromFile.verify(hmacMinter().mint(TokenMinter.Grant.of("s", Set.of(Scope.ADMIN), List.of("*"), Duration.ofMinutes(1))));
  }

  @Test
  void rsaPublicKeyPemVerifiesRs256AndRefusesHmacSignedWithThePublicKey() throws Exception {
    RSAKey key = new RSAKeyGenerator(2048).keyID("k1").generate();
    Path pem = dir.resolve("public.pem");
    Files.writeString(pem, "-----BEGIN PUBLIC KEY-----\n"
        + Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII)).encodeToString(key.toRSAPublicKey().getEncoded())
        + "\n-----END PUBLIC KEY-----\n");
    TokenVerifier verifier = new TokenVerifier(settings(Optional.empty(), Optional.empty(), Optional.of(pem),
        Optional.empty(), Optional.empty(), Optional.empty()));
    Caller caller = verifier.verify(TokenMinter.rsa(key).mint(TokenMinter.Grant.of("idp-user", Set.of(Scope.JOBS_READ),
        List.of("RAE-9"), Duration.ofMinutes(5))));
    assertEquals(Set.of(Scope.JOBS_READ), caller.scopes());

    // Algorithm confusion: an HS256 token keyed with the (public) PEM bytes must not pass.
    byte[] publicBytes = Files.readAllBytes(pem);
    SignedJWT confused = new SignedJWT(new JWSHeader(JWSAlgorithm.HS256), new JWTClaimsSet.Builder()
        .claim("scope", "admin").claim("raes", List.of("*")).expirationTime(in(60)).build());
    confused.sign(new MACSigner(publicBytes));
    assertThrows(TokenVerifier.InvalidTokenException.class, () -> verifier.verify(confused.serialize()));
    // And the HMAC deployment does not take RSA tokens.
    assertThrows(TokenVerifier.InvalidTokenException.class, () -> new TokenVerifier(hmac()).verify(
        TokenMinter.rsa(key).mint(TokenMinter.Grant.of("s", Set.of(Scope.ADMIN), List.of("*"), Duration.ofMinutes(1)))));
  }

  @Test
  void jwksSelectsTheKeyByKidAndChecksIssuerAndAudience() throws Exception {
    RSAKey k1 = new RSAKeyGenerator(2048).keyID("k1").generate();
    RSAKey k2 = new RSAKeyGenerator(2048).keyID("k2").generate();
    RSAKey unlisted = new RSAKeyGenerator(2048).keyID("k3").generate();
    Path jwks = dir.resolve("jwks.json");
    Files.writeString(jwks, new JWKSet(List.of(k1.toPublicJWK(), k2.toPublicJWK())).toString());
    TokenVerifier verifier = new TokenVerifier(settings(Optional.empty(), Optional.empty(), Optional.empty(),
        Optional.of(jwks), Optional.of("https://idp.example"), Optional.of("fleetplane")));
    TokenMinter.Grant good = new TokenMinter.Grant("u", Set.of(Scope.DEVICES_READ), List.of("RAE-1"), Duration.ofMinutes(5),
        Optional.of("https://idp.example"), Optional.of("fleetplane"));
    assertEquals("u", verifier.verify(TokenMinter.rsa(k2).mint(good)).subject());
    assertEquals("u", verifier.verify(TokenMinter.rsa(k1).mint(good)).subject());
    assertThrows(TokenVerifier.InvalidTokenException.class, () -> verifier.verify(TokenMinter.rsa(unlisted).mint(good)));
    assertThrows(TokenVerifier.InvalidTokenException.class, () -> verifier.verify(TokenMinter.rsa(k1).mint(
        new TokenMinter.Grant("u", Set.of(), List.of(), Duration.ofMinutes(5), Optional.of("https://evil"), Optional.of("fleetplane")))));
    assertThrows(TokenVerifier.InvalidTokenException.class, () -> verifier.verify(TokenMinter.rsa(k1).mint(
        new TokenMinter.Grant("u", Set.of(), List.of(), Duration.ofMinutes(5), Optional.of("https://idp.example"), Optional.of("other")))));
  }

  @Test
  void localCredentialsCreateAKeyOnceAndAnAdminTokenThatVerifies() throws Exception {
    LocalCredentials first = LocalCredentials.ensure(dir);
    String key = Files.readString(first.keyFile());
    String token = Files.readString(first.adminTokenFile()).trim();
    assertEquals("rw-------", java.nio.file.attribute.PosixFilePermissions.toString(
        Files.getPosixFilePermissions(first.keyFile())));
    TokenVerifier verifier = new TokenVerifier(settings(Optional.empty(), Optional.of(first.keyFile()), Optional.empty(),
        Optional.empty(), Optional.empty(), Optional.empty()));
    Caller admin = verifier.verify(token);
    assertTrue(admin.has(Scope.ADMIN) && admin.allRaes());

    LocalCredentials again = LocalCredentials.ensure(dir);
    assertEquals(key, Files.readString(again.keyFile()), "the key is created once");
    assertEquals(token, Files.readString(again.adminTokenFile()).trim(), "a valid admin token is kept");

    Files.writeString(first.adminTokenFile(), "garbage");
    LocalCredentials repaired = LocalCredentials.ensure(dir);
    verifier.verify(Files.readString(repaired.adminTokenFile()).trim());
  }

  private static Date in(int seconds) {
    return new Date(System.currentTimeMillis() + seconds * 1000L);
  }

  private static String sign(JWTClaimsSet claims) throws Exception {
    SignedJWT jwt = new SignedJWT(new JWSHeader(JWSAlgorithm.HS256), claims);
    jwt.sign(new MACSigner(SECRET.getBytes(StandardCharsets.UTF_8)));
    return jwt.serialize();
  }
}
