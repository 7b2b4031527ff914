package io.fleetplane.jobs.distribution.domain;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.util.Base64;
import java.util.HexFormat;
import java.util.Optional;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * Per-recipient secrets derived from one server key (HMAC-SHA256), never stored: the password of
 * an encrypted copy, the download-link token, and the fingerprint hidden in each copy.
 *
 * <p>Why derived instead of random and stored: a notification that must be re-sent after a crash
 * needs the same password and link as the copy already made. Deriving them means neither the
 * journal nor the outbox ever holds a password or a usable token (only the token's SHA-256 is
 * journaled, to check links against), and a redelivered e-mail carries identical content.
 * The price: whoever holds the key can derive them, so the key is a secret like a database password.
 */
public final class DistributionSecrets {

  private static final Base64.Encoder B64 = Base64.getUrlEncoder().withoutPadding();
  private static final String FINGERPRINT_PREFIX = "fpd1";

  private final SecretKeySpec key;

  public DistributionSecrets(String secret) {
    if (secret == null || secret.length() < 16) {
      throw new IllegalArgumentException("fleetplane.jobs.distribution.secret must have at least 16 characters");
    }
    this.key = new SecretKeySpec(secret.getBytes(StandardCharsets.UTF_8), "HmacSHA256");
  }

  /** The user password of a recipient's encrypted copies (the same for every file of the job). */
  public String password(String jobId, String recipientId) {
    return mac("password", jobId, recipientId).substring(0, 16);
  }

  /** The download token of one item: {@code <jobId>.<itemId>.<secret part>}. */
  public String linkToken(String jobId, String itemId) {
    return jobId + "." + itemId + "." + mac("link", jobId, itemId).substring(0, 32);
  }

  /**
   * The invisible per-recipient mark: {@code fpd1.<jobId>.<recipientId>.<mac>}. The MAC makes it
   * unforgeable; {@link #identify} maps a mark found in a leaked copy back to job and recipient.
   */
  public String fingerprint(String jobId, String recipientId) {
    return FINGERPRINT_PREFIX + "." + jobId + "." + recipientId + "." + mac("fingerprint", jobId, recipientId).substring(0, 16);
  }

  /** Job and recipient of a fingerprint this key made; empty for anything else. */
  public Optional<Identified> identify(String fingerprint) {
    String[] parts = fingerprint.strip().split("\\.");
    if (parts.length != 4 || !parts[0].equals(FINGERPRINT_PREFIX)) {
      return Optional.empty();
    }
    String expected = fingerprint(parts[1], parts[2]);
    return MessageDigest.isEqual(expected.getBytes(StandardCharsets.UTF_8), fingerprint.strip().getBytes(StandardCharsets.UTF_8))
        ? Optional.of(new Identified(parts[1], parts[2])) : Optional.empty();
  }

  public record Identified(String jobId, String recipientId) {}

  /** SHA-256 of a token, hex: what the journal keeps. */
  public static String hashToken(String token) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(token.getBytes(StandardCharsets.UTF_8)));
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("SHA-256 is always available", e);
    }
  }

  /** Job and item a token names, without checking it (the job checks the hash). */
  public static Optional<String[]> parseToken(String token) {
    String[] parts = token.split("\\.");
    return parts.length == 3 && !parts[0].isEmpty() && !parts[1].isEmpty() ? Optional.of(parts) : Optional.empty();
  }

  private String mac(String purpose, String a, String b) {
    try {
      Mac mac = Mac.getInstance("HmacSHA256");
      mac.init(key);
      mac.update((purpose + "\u0000" + a + "\u0000" + b).getBytes(StandardCharsets.UTF_8));
      return B64.encodeToString(mac.doFinal());
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("HmacSHA256 is always available", e);
    }
  }
}
