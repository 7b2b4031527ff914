package io.fleetplane.http;

import io.fleetplane.config.ids.RaeSerial;
import io.fleetplane.http.auth.Caller;
import io.fleetplane.http.auth.LocalCredentials;
import io.fleetplane.http.auth.Scope;
import io.fleetplane.http.auth.TokenMinter;
import io.fleetplane.http.auth.TokenVerifier;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code ./fleetplane token}: mints a bearer token for given scopes and RAEs with an HMAC key. */
@Command(name = "token", mixinStandardHelpOptions = true,
    description = "Mint an operator API token (JWT, HS256) and print it. Signs with local mode's key "
        + "(<data dir>/signing.key) or --key-file, the secret the node verifies with (hmac-secret-file).")
final class TokenCommand implements Callable<Integer> {

  @Option(names = "--scopes", required = true, split = ",",
      description = "Comma-separated: devices:read, devices:write, jobs:read, jobs:write, workflows:read, "
          + "workflows:write, admin.")
  List<String> scopes;

  @Option(names = "--raes", split = ",", description = "Comma-separated RAE serials the token may see, or * for all.")
  List<String> raes = new ArrayList<>();

  @Option(names = "--subject", defaultValue = "operator", description = "Who the token is for (sub; default: ${DEFAULT-VALUE}).")
  String subject;

  @Option(names = "--ttl", defaultValue = "8h", description = "Lifetime, e.g. 30m, 8h, 7d (default: ${DEFAULT-VALUE}).")
  String ttl;

  @Option(names = "--data-dir", defaultValue = "fleetplane-data",
      description = "Local mode's data directory, whose signing.key signs (default: ${DEFAULT-VALUE}).")
  Path dataDir;

  @Option(names = "--key-file", description = "An HMAC secret file to sign with instead of <data dir>/signing.key.")
  Path keyFile;

  @CommandLine.Spec
  CommandLine.Model.CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    PrintWriter err = spec.commandLine().getErr();
    Set<Scope> granted = EnumSet.noneOf(Scope.class);
    for (String name : scopes) {
      var scope = Scope.parse(name.trim());
      if (scope.isEmpty()) {
        err.println("Unknown scope '" + name + "'. Scopes: devices:read, devices:write, jobs:read, jobs:write, "
            + "workflows:read, workflows:write, admin.");
        return 2;
      }
      granted.add(scope.get());
    }
    for (String rae : raes) {
      if (!rae.equals(Caller.ALL_RAES) && RaeSerial.parse(rae).isEmpty()) {
        err.println("'" + rae + "' is not a RAE serial (1-64 of [A-Za-z0-9._-]) nor * (every RAE).");
        return 2;
      }
    }
    Duration lifetime;
    try {
      lifetime = parseDuration(ttl);
    } catch (IllegalArgumentException e) {
      err.println("--ttl must be a positive duration like 30m, 8h or 7d, got '" + ttl + "'.");
      return 2;
    }
    Path key = keyFile != null ? keyFile : dataDir.resolve(LocalCredentials.KEY_FILE);
    if (!Files.isReadable(key)) {
      err.println("No signing key at " + key.toAbsolutePath() + ". Start ./fleetplane local once (it creates one) "
          + "or give --key-file.");
      return 2;
    }
    String token = TokenMinter.hmac(TokenVerifier.readHmacSecret(key))
        .mint(TokenMinter.Grant.of(subject, granted, raes, lifetime));
    spec.commandLine().getOut().println(token);
    spec.commandLine().getOut().flush();
    return 0;
  }

  static Duration parseDuration(String text) {
    try {
      if (text.matches("\\d+[smhd]")) {
        long n = Long.parseLong(text.substring(0, text.length() - 1));
        Duration d = switch (text.charAt(text.length() - 1)) {
          case 's' -> Duration.ofSeconds(n);
          case 'm' -> Duration.ofMinutes(n);
          case 'h' -> Duration.ofHours(n);
          default -> Duration.ofDays(n);
        };
        if (!d.isZero()) {
          return d;
        }
      }
    } catch (NumberFormatException | ArithmeticException e) {
      // reported below
    }
    throw new IllegalArgumentException(text);
  }
}
