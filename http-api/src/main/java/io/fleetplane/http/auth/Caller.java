package io.fleetplane.http.auth;

import java.util.Collections;
import java.util.EnumSet;
import java.util.Optional;
import java.util.Set;
import java.util.SortedSet;
import java.util.TreeSet;

/**
 * Who is calling, as proven by a verified token: routes get one from
 * {@link Authorization#authorize} and use it to scope what they read and write.
 *
 * @param subject the token's {@code sub}, for logs and audit (never used for decisions)
 * @param scopes what the caller may do; {@link Scope#ADMIN} implies every scope
 * @param raeSerials the RAEs whose devices the caller may see and touch; empty when
 *     {@code allRaes}
 * @param allRaes the token grants every RAE ({@code "raes": ["*"]})
 */
public record Caller(String subject, Set<Scope> scopes, SortedSet<String> raeSerials, boolean allRaes) {

  /** The value of the {@code raes} claim that grants every RAE. */
  public static final String ALL_RAES = "*";

  public Caller {
    scopes = scopes.isEmpty() ? Collections.unmodifiableSet(EnumSet.noneOf(Scope.class))
        : Collections.unmodifiableSet(EnumSet.copyOf(scopes));
    raeSerials = allRaes ? Collections.emptySortedSet() : Collections.unmodifiableSortedSet(new TreeSet<>(raeSerials));
  }

  public boolean has(Scope scope) {
    return scopes.contains(scope) || scopes.contains(Scope.ADMIN);
  }

  /** Whether the caller may see devices of this RAE; another RAE's device is answered as absent. */
  public boolean mayAccess(String raeSerial) {
    return allRaes || raeSerials.contains(raeSerial);
  }

  /** The RAEs a list must be restricted to, or empty when the caller sees every RAE. */
  public Optional<SortedSet<String>> raeRestriction() {
    return allRaes ? Optional.empty() : Optional.of(raeSerials);
  }
}
