package io.fleetplane.http.bench;

import akka.actor.typed.ActorSystem;
import akka.cluster.sharding.typed.javadsl.ClusterSharding;
import akka.http.javadsl.Http;
import akka.http.javadsl.ServerBinding;
import akka.http.javadsl.model.ContentTypes;
import akka.http.javadsl.model.HttpResponse;
import akka.http.javadsl.server.AllDirectives;
import akka.http.javadsl.server.Route;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.TextNode;
import io.fleetplane.config.FleetplaneConfig;
import io.fleetplane.config.ids.DeviceTopic.Channel;
import io.fleetplane.http.FleetplaneNode;
import io.fleetplane.http.auth.AuthSettings;
import io.fleetplane.http.auth.Authorization;
import io.fleetplane.http.auth.Scope;
import io.fleetplane.registry.DeviceSession;
import io.fleetplane.registry.domain.DeviceMessage;
import io.fleetplane.registry.domain.Lineage;
import io.fleetplane.testkit.infra.EmbeddedKafka;
import io.fleetplane.testkit.infra.PostgresEndpoint;
import io.fleetplane.testkit.infra.TestPostgres;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code ./fleetplane bench http}: device reads over HTTP ({@code GET /api/v1/devices/{id}} of
 * existing devices: JWT check, cluster-sharding ask to the session actor, DTO, JSON) against a
 * constant route in the same JVM (the same server settings and the same JWT check, a
 * precomputed body of the same size) as the ceiling. The load generator is {@code wrk}, a C
 * program on its own event loop: a JVM client would compete with the node for the same JIT,
 * GC and cores. wrk rotates over {@code devices} sessions, so the per-entity ask bound is not
 * what is measured.
 */
public final class HttpBenchmark {

  /** One wrk run. */
  public record Run(String scenario, double requestsPerSecond, double p50Millis, double p99Millis, long requests,
      long non2xx, long socketErrors) {}

  private final int devices;
  private final int connections;
  private final int threads;
  private final int seconds;
  private final Optional<Path> jfr;

  public HttpBenchmark(int devices, int connections, int threads, int seconds, Optional<Path> jfr) {
    this.devices = devices;
    this.connections = connections;
    this.threads = threads;
    this.seconds = seconds;
    this.jfr = jfr;
  }

  public String run(int runs, int warmup, String command) throws Exception {
    Path wrk = Wrk.locate();
    List<Run> results = new ArrayList<>();
    PostgresEndpoint db = TestPostgres.newSchema();
    Path work = Files.createTempDirectory("fp-bench-http-");
    try (EmbeddedKafka kafka = BridgeBenchmark.startKafka()) {
      FleetplaneNode node = startNode(db, kafka, work);
      ServerBinding constant = null;
      try {
        List<String> ids = createDevices(node.system());
        String token = BenchCredentials.readToken();
        String sample = fetch(node.httpPort(), "/api/v1/devices/" + ids.get(0), token);
        constant = bindConstant(node.system(), sample.getBytes(StandardCharsets.UTF_8));
        Path deviceScript = Wrk.script(work.resolve("devices.lua"), token,
            ids.stream().map(id -> "/api/v1/devices/" + id).toList());
        Path constantScript = Wrk.script(work.resolve("constant.lua"), token, List.of("/bench/constant"));
        // Both answer 200 with the same body size before anything is measured.
        String constantBody = fetch(constant.localAddress().getPort(), "/bench/constant", token);
        System.out.printf("http: %d devices, device body %d B, constant body %d B, wrk %d threads x %d connections%n",
            ids.size(), sample.length(), constantBody.length(), threads, connections);
        for (int run = 1 - warmup; run <= runs; run++) {
          System.out.printf("http: %s (%d s per scenario)%n", run < 1 ? "warm-up run (not recorded)"
              : "run " + run + "/" + runs, seconds);
          Run ceiling = Wrk.run(wrk, "constant route (ceiling)", constant.localAddress().getPort(), constantScript,
              threads, connections, seconds);
          Run reads = Wrk.run(wrk, "device read (sharding ask)", node.httpPort(), deviceScript, threads, connections,
              seconds);
          for (Run r : List.of(ceiling, reads)) {
            System.out.printf(Locale.ROOT, "  %-30s %,9.0f req/s  p50 %6.2f ms  p99 %6.2f ms  non-2xx %d  socket errors %d%n",
                r.scenario(), r.requestsPerSecond(), r.p50Millis(), r.p99Millis(), r.non2xx(), r.socketErrors());
            if (run >= 1) {
              results.add(r);
            }
          }
        }
        if (jfr.isPresent()) {
          // Its own run, not recorded: even JFR's default settings cost throughput on two cores.
          Run profiled = profiled(() -> Wrk.run(wrk, "device read under JFR", node.httpPort(), deviceScript, threads,
              connections, seconds));
          System.out.printf(Locale.ROOT, "  %-30s %,9.0f req/s  p99 %6.2f ms (profiling run, not recorded)%n",
              profiled.scenario(), profiled.requestsPerSecond(), profiled.p99Millis());
        }
      } finally {
        if (constant != null) {
          constant.unbind().toCompletableFuture().get(10, TimeUnit.SECONDS);
        }
        node.stop().toCompletableFuture().get(60, TimeUnit.SECONDS);
      }
    } finally {
      TestPostgres.dropSchema(db);
    }
    return markdown(results, command);
  }

  private interface RunSupplier {
    Run get() throws Exception;
  }

  /** Runs the measurement under a JFR recording when asked, and prints where the CPU went. */
  private Run profiled(RunSupplier measurement) throws Exception {
    try (jdk.jfr.Recording recording = new jdk.jfr.Recording(jdk.jfr.Configuration.getConfiguration("default"))) {
      recording.start();
      Run result = measurement.get();
      recording.stop();
      recording.dump(jfr.get());
      System.out.println("JFR recording of an extra device-read run: " + jfr.get().toAbsolutePath()
          + " (jfr print --events jdk.ExecutionSample, or JDK Mission Control)");
      JfrSummary.printHotMethods(jfr.get(), 25);
      return result;
    }
  }

  private static FleetplaneNode startNode(PostgresEndpoint db, EmbeddedKafka kafka, Path work) {
    Map<String, Object> c = new HashMap<>();
    c.put("fleetplane.persistence.jdbc-url", db.jdbcUrl());
    c.put("fleetplane.persistence.user", db.user());
    c.put("fleetplane.persistence.password", db.password());
    c.put("fleetplane.kafka.bootstrap-servers", kafka.bootstrapServers());
    c.put("fleetplane.node.http.port", 0);
    // The read path only: devices are applied through sharding as the ingest would apply them.
    c.put("fleetplane.node.run-bridge", false);
    c.put("fleetplane.node.run-registry", false);
    c.put("fleetplane.registry.read-side.run-projection", false);
    c.put("fleetplane.node.metrics.kamon-agent", false);
    c.put("akka.remote.artery.canonical.port", 0);
    c.put("akka.loglevel", "WARNING");
    c.put("fleetplane.jobs.distribution.store-dir", work.resolve("documents").toString());
    BenchCredentials.configure(c);
    return FleetplaneNode.start(FleetplaneConfig.load(c));
  }

  /** Sessions with a handful of attributes each (a typical device body), applied by sharding ask. */
  private List<String> createDevices(ActorSystem<?> system) throws Exception {
    ClusterSharding sharding = ClusterSharding.get(system);
    List<String> ids = new ArrayList<>();
    List<CompletableFuture<DeviceSession.ApplyReply>> pending = new ArrayList<>();
    long now = System.currentTimeMillis();
    for (int i = 0; i < devices; i++) {
      String id = UUID.randomUUID().toString();
      ids.add(id);
      Map<String, JsonNode> attributes = new LinkedHashMap<>();
      attributes.put("esn", TextNode.valueOf("ESN-" + i));
      attributes.put("firmware", TextNode.valueOf("4.2." + (i % 10)));
      attributes.put("model", TextNode.valueOf("rig-model-" + (i % 7)));
      attributes.put("hdmi", TextNode.valueOf("connected"));
      DeviceMessage message = new DeviceMessage(Channel.UPDATE, now, Optional.empty(), attributes,
          Optional.of("idle"), Optional.of(true));
      Lineage lineage = new Lineage("fleet/rae/BENCH-HTTP/device/" + id + "/update", 0, i, now);
      pending.add(sharding.entityRefFor(DeviceSession.ENTITY_TYPE_KEY, id)
          .<DeviceSession.ApplyReply>ask(replyTo -> new DeviceSession.ApplyMessage("BENCH-HTTP", message, lineage,
              replyTo), Duration.ofSeconds(30)).toCompletableFuture());
      if (pending.size() >= 200) {
        for (var p : pending) {
          p.get(60, TimeUnit.SECONDS);
        }
        pending.clear();
      }
    }
    for (var p : pending) {
      p.get(60, TimeUnit.SECONDS);
    }
    return ids;
  }

  /** {@code GET /bench/constant} behind the same JWT check, answering a fixed body. */
  private static ServerBinding bindConstant(ActorSystem<?> system, byte[] body) throws Exception {
    Authorization auth = Authorization.fromSettings(AuthSettings.fromConfig(system.settings().config()));
    AllDirectives d = new AllDirectives() {};
    HttpResponse response = HttpResponse.create().withEntity(ContentTypes.APPLICATION_JSON, body);
    Route route = d.path(akka.http.javadsl.server.PathMatchers.segment("bench").slash("constant"), () ->
        d.get(() -> auth.authorize(Scope.DEVICES_READ, caller -> d.complete(response))));
    return Http.get(system).newServerAt("127.0.0.1", 0).bind(route).toCompletableFuture().get(10, TimeUnit.SECONDS);
  }

  private static String fetch(int port, String path, String token) throws IOException, InterruptedException {
    var response = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
        .header("Authorization", "Bearer " + token).GET().build(), java.net.http.HttpResponse.BodyHandlers.ofString());
    if (response.statusCode() != 200) {
      throw new IllegalStateException("GET " + path + " answered " + response.statusCode() + ": " + response.body());
    }
    return response.body();
  }

  String markdown(List<Run> runs, String command) {
    Map<String, List<Run>> byScenario = new LinkedHashMap<>();
    runs.forEach(r -> byScenario.computeIfAbsent(r.scenario(), k -> new ArrayList<>()).add(r));
    StringBuilder md = new StringBuilder(BenchmarkReport.header("HTTP: device read vs constant route",
        command, "wrk " + threads + " threads x " + connections + " connections, " + seconds + " s per scenario and run, "
            + "keep-alive, on the same 2 cores as the node (and, on this shared machine, other builds: noisy); the node "
            + "(no bridge, no ingest, in-process Kafka idle) and the constant route's server in one JVM; " + devices
            + " device sessions read round-robin with a devices:read JWT; the constant route checks the same JWT and "
            + "answers a precomputed device body. Target: >= 15,000 device reads/s."))
        .append("| scenario | runs | req/s (median) | req/s min-max | p50 ms | p99 ms | p99 min-max | non-2xx | socket errors | ratio to ceiling |\n")
        .append("|---|---|---|---|---|---|---|---|---|---|\n");
    double ceiling = BenchmarkReport.median(byScenario.getOrDefault("constant route (ceiling)", List.of()),
        Run::requestsPerSecond);
    byScenario.forEach((scenario, list) -> {
      double rate = BenchmarkReport.median(list, Run::requestsPerSecond);
      md.append(String.format(Locale.ROOT, "| %s | %d | %,.0f | %,.0f-%,.0f | %.2f | %.2f | %.2f-%.2f | %d | %d | %.2f |%n",
          scenario, list.size(), rate,
          list.stream().mapToDouble(Run::requestsPerSecond).min().orElse(0),
          list.stream().mapToDouble(Run::requestsPerSecond).max().orElse(0),
          BenchmarkReport.median(list, Run::p50Millis), BenchmarkReport.median(list, Run::p99Millis),
          list.stream().mapToDouble(Run::p99Millis).min().orElse(0),
          list.stream().mapToDouble(Run::p99Millis).max().orElse(0),
          list.stream().mapToLong(Run::non2xx).sum(), list.stream().mapToLong(Run::socketErrors).sum(),
          rate / ceiling));
    });
    return md.toString();
  }

  /** Finding, scripting, running and reading wrk. */
  static final class Wrk {
    private Wrk() {}

    static Path locate() throws IOException, InterruptedException {
      for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin").split(":")) {
        Path candidate = Path.of(dir, "wrk");
        if (Files.isExecutable(candidate)) {
          return candidate;
        }
      }
      // Debian/Ubuntu package; installed only when we may (root with apt-get), else say how.
      boolean root = "root".equals(System.getProperty("user.name"));
      if (root && Files.isExecutable(Path.of("/usr/bin/apt-get"))) {
        System.out.println("http: wrk not found; installing it: apt-get install -y wrk");
        Process p = new ProcessBuilder("apt-get", "install", "-y", "wrk").inheritIO().start();
        if (p.waitFor() == 0 && Files.isExecutable(Path.of("/usr/bin/wrk"))) {
          return Path.of("/usr/bin/wrk");
        }
      }
      throw new IllegalStateException("The http benchmark needs wrk. Install it: sudo apt-get install -y wrk "
          + "(Debian/Ubuntu), brew install wrk (macOS), or build https://github.com/wg/wrk.");
    }

    /** A Lua script sending the paths round-robin with the bearer token. */
    static Path script(Path file, String token, List<String> paths) throws IOException {
      StringBuilder lua = new StringBuilder("local paths = {\n");
      paths.forEach(p -> lua.append("  \"").append(p).append("\",\n"));
      lua.append("}\n")
          .append("local headers = { [\"Authorization\"] = \"Bearer ").append(token).append("\" }\n")
          .append("local requests = {}\n")
          .append("local i = 0\n")
          // Pre-formatted once per thread: wrk's own cost per request stays a table lookup.
          .append("init = function(args)\n")
          .append("  for k, p in ipairs(paths) do requests[k] = wrk.format(\"GET\", p, headers) end\n")
          .append("end\n")
          .append("request = function()\n")
          .append("  i = i % #requests + 1\n")
          .append("  return requests[i]\n")
          .append("end\n");
      Files.writeString(file, lua.toString());
      return file;
    }

    static Run run(Path wrk, String scenario, int port, Path script, int threads, int connections, int seconds)
        throws IOException, InterruptedException {
      Process p = new ProcessBuilder(wrk.toString(), "-t" + threads, "-c" + connections, "-d" + seconds + "s",
          "--latency", "--timeout", "5s", "-s", script.toString(), "http://127.0.0.1:" + port + "/")
          .redirectErrorStream(true).start();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      if (p.waitFor() != 0) {
        throw new IllegalStateException("wrk failed: " + out);
      }
      return parse(scenario, out);
    }

    private static final Pattern RATE = Pattern.compile("Requests/sec:\\s+([0-9.]+)");
    private static final Pattern TOTAL = Pattern.compile("(\\d+) requests in");
    private static final Pattern NON2XX = Pattern.compile("Non-2xx or 3xx responses:\\s+(\\d+)");
    private static final Pattern SOCKET = Pattern.compile(
        "Socket errors: connect (\\d+), read (\\d+), write (\\d+), timeout (\\d+)");

    static Run parse(String scenario, String out) {
      Matcher rate = RATE.matcher(out);
      Matcher total = TOTAL.matcher(out);
      if (!rate.find() || !total.find()) {
        throw new IllegalStateException("unreadable wrk output:\n" + out);
      }
      Matcher non2xx = NON2XX.matcher(out);
      Matcher socket = SOCKET.matcher(out);
      long socketErrors = 0;
      if (socket.find()) {
        for (int g = 1; g <= 4; g++) {
          socketErrors += Long.parseLong(socket.group(g));
        }
      }
      return new Run(scenario, Double.parseDouble(rate.group(1)), percentile(out, "50%"), percentile(out, "99%"),
          Long.parseLong(total.group(1)), non2xx.find() ? Long.parseLong(non2xx.group(1)) : 0, socketErrors);
    }

    /** A line of wrk's latency distribution ("  99%    4.12ms") in milliseconds. */
    static double percentile(String out, String label) {
      Matcher m = Pattern.compile("^\\s*" + Pattern.quote(label) + "\\s+([0-9.]+)(us|ms|s|m)\\s*$", Pattern.MULTILINE)
          .matcher(out);
      if (!m.find()) {
        return Double.NaN;
      }
      double v = Double.parseDouble(m.group(1));
      return switch (m.group(2)) {
        case "us" -> v / 1000;
        case "ms" -> v;
        case "s" -> v * 1000;
        default -> v * 60_000;
      };
    }
  }
}
