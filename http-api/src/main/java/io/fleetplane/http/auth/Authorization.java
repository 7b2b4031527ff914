package io.fleetplane.http.auth;

import akka.http.javadsl.model.AttributeKey;
import akka.http.javadsl.model.HttpResponse;
import akka.http.javadsl.model.StatusCodes;
import akka.http.javadsl.model.headers.HttpChallenge;
import akka.http.javadsl.model.headers.WWWAuthenticate;
import akka.http.javadsl.server.AllDirectives;
import akka.http.javadsl.server.Route;
import io.fleetplane.config.ErrorCode;
import io.fleetplane.http.Problem;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one authorization directive of the operator API. Wrap a route's inner part (inside its path
 * and method matching, so unknown routes stay 404 and wrong methods 405):
 *
 * <pre>{@code
 * path("jobs", () -> get(() -> auth.authorize(Scope.JOBS_READ, caller -> ...)))
 * }</pre>
 *
 * No or unusable token: 401 {@code auth.token-missing}/{@code auth.token-invalid}/{@code
 * auth.token-expired} with a {@code WWW-Authenticate: Bearer} challenge (RFC 6750). A valid token
 * without the scope: 403 {@code auth.scope-missing}. RAE scoping is the route's job, with the
 * {@link Caller}: answer another RAE's entity as 404 (as if absent) and restrict lists with
 * {@link Caller#raeRestriction()}.
 */
public final class Authorization extends AllDirectives {

  private static final Logger log = LoggerFactory.getLogger(Authorization.class);
  private static final String BEARER = "Bearer ";

  /**
   * The verified caller, set on the request by {@link #authorizeByMethod} so that route trees built
   * once (not per caller) can still read it with {@code attribute(Authorization.CALLER, ...)}.
   */
  public static final AttributeKey<Caller> CALLER = AttributeKey.create("fleetplane-caller", Caller.class);

  private final TokenVerifier verifier;
  private final String realm;

  public Authorization(TokenVerifier verifier, String realm) {
    this.verifier = verifier;
    this.realm = realm;
  }

  public static Authorization fromSettings(AuthSettings settings) {
    return new Authorization(new TokenVerifier(settings), settings.realm());
  }

  /** Runs {@code inner} with the caller when the request's token is valid and grants {@code scope}. */
  public Route authorize(Scope scope, Function<Caller, Route> inner) {
    return optionalHeaderValueByName("Authorization", header -> {
      Caller caller;
      try {
        caller = verifier.verify(bearerToken(header));
      } catch (TokenVerifier.InvalidTokenException e) {
        return complete(unauthorized(e));
      }
      if (!caller.has(scope)) {
        log.info("Caller {} lacks scope {}", caller.subject(), scope);
        return complete(challenge(Problem.of(StatusCodes.FORBIDDEN, ErrorCode.AUTH_SCOPE_MISSING,
            "This needs a token with scope '" + scope + "' (or admin); yours has " + caller.scopes()
                + ". Ask for a token with that scope (./fleetplane token --scopes " + scope + ")."),
            "insufficient_scope", Optional.of(scope.claimValue())));
      }
      return inner.apply(caller);
    });
  }

  /**
   * For route groups whose handlers mostly do not look at the caller (jobs, workflows): reads (GET,
   * HEAD) need {@code read}, every other method needs {@code write}. The caller is on the request as
   * {@link #CALLER} for the few handlers that show more to stronger scopes.
   */
  public Route authorizeByMethod(Scope read, Scope write, java.util.function.Supplier<Route> inner) {
    return extractMethod(method -> {
      String name = method.name();
      Scope needed = name.equals("GET") || name.equals("HEAD") ? read : write;
      return authorize(needed, caller -> mapRequest(request -> request.addAttribute(CALLER, caller), inner));
    });
  }

  private static String bearerToken(Optional<String> header) throws TokenVerifier.InvalidTokenException {
    if (header.isEmpty()) {
      throw new MissingToken();
    }
    String value = header.get();
    if (value.length() <= BEARER.length() || !value.regionMatches(true, 0, BEARER, 0, BEARER.length())) {
      throw new TokenVerifier.InvalidTokenException("The Authorization header must be 'Bearer <token>'.", false);
    }
    return value.substring(BEARER.length()).trim();
  }

  /** No credentials at all: RFC 6750 says the challenge then carries no error code. */
  private static final class MissingToken extends TokenVerifier.InvalidTokenException {
    MissingToken() {
      super("", false);
    }
  }

  private HttpResponse unauthorized(TokenVerifier.InvalidTokenException e) {
    if (e instanceof MissingToken) {
      return challenge(Problem.of(StatusCodes.UNAUTHORIZED, ErrorCode.AUTH_TOKEN_MISSING,
          "This route needs a bearer token: send 'Authorization: Bearer <token>'. Local mode writes an admin token "
              + "to <data dir>/admin.token; ./fleetplane token mints others."), null, Optional.empty());
    }
    ErrorCode code = e.expired() ? ErrorCode.AUTH_TOKEN_EXPIRED : ErrorCode.AUTH_TOKEN_INVALID;
    String todo = e.expired() ? " Get a new token." : " Send a token issued for this Fleetplane installation.";
    return challenge(Problem.of(StatusCodes.UNAUTHORIZED, code, e.getMessage() + todo), "invalid_token", Optional.empty());
  }

  private HttpResponse challenge(Problem problem, String error, Optional<String> scope) {
    Map<String, String> params = new LinkedHashMap<>();
    if (error != null) {
      params.put("error", error);
    }
    scope.ifPresent(s -> params.put("scope", s));
    return problem.toResponse().addHeader(WWWAuthenticate.create(HttpChallenge.create("Bearer", realm, params)));
  }
}
