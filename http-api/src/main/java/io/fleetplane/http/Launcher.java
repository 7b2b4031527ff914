package io.fleetplane.http;

import java.nio.file.Path;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code ./fleetplane <subcommand>}: the one entry point. */
@Command(name = "fleetplane", mixinStandardHelpOptions = true,
    description = "Fleetplane: an actor-based control plane for MQTT devices.",
    subcommands = {Launcher.Local.class, Launcher.Node.class, Launcher.Bridge.class, Launcher.Bench.class,
        TokenCommand.class, CanaryCommand.class})
public final class Launcher implements Runnable {

  @Override
  public void run() {
    CommandLine.usage(this, System.out);
  }

  public static void main(String[] args) {
    System.exit(new CommandLine(new Launcher()).execute(args));
  }

  @Command(name = "local", mixinStandardHelpOptions = true,
      description = "Run the whole platform on this machine: embedded PostgreSQL, Kafka and MQTT "
          + "broker, the bridge and the node. Ctrl-C stops it; data stays in --data-dir.")
  static final class Local implements Callable<Integer> {
    @Option(names = "--data-dir", defaultValue = "fleetplane-data",
        description = "Where local state lives (default: ${DEFAULT-VALUE}).")
    Path dataDir;

    @Option(names = "--http-port", defaultValue = "8080", description = "HTTP API port (default: ${DEFAULT-VALUE}).")
    int httpPort;

    @Option(names = "--kafka-port", defaultValue = "9092", description = "Embedded Kafka port (default: ${DEFAULT-VALUE}).")
    int kafkaPort;

    @Option(names = "--mqtt-port", defaultValue = "1883", description = "Embedded MQTT broker port (default: ${DEFAULT-VALUE}).")
    int mqttPort;

    @Option(names = "--mqtt-uri", defaultValue = "${env:FLEETPLANE_MQTT_URI}",
        description = "Use this external MQTT broker (e.g. tcp://127.0.0.1:1883) instead of embedding one.")
    String mqttUri;

    @Option(names = "--postgres-port", defaultValue = "0",
        description = "Embedded PostgreSQL port (default: a free port).")
    int postgresPort;

    @Option(names = "--no-kamon-agent", description = "Do not attach Kamon's instrumentation agent.")
    boolean noKamonAgent;

    @Option(names = "--mqtt-persistence", defaultValue = "FILE",
        description = "Where the embedded broker keeps sessions and queued messages: FILE (default; survives a "
            + "restart) or IN_MEMORY (cheaper: on 2 cores the file store costs a quarter of the node's CPU in a "
            + "3,000-client canary, but a crash loses messages the broker acknowledged and the bridge had not yet taken).")
    io.fleetplane.testkit.infra.EmbeddedMqttBroker.Persistence mqttPersistence;

    @Option(names = "--smtp-port", defaultValue = "3025",
        description = "In-process mail server: SMTP port distribution e-mail is sent to (default: ${DEFAULT-VALUE}).")
    int smtpPort;

    @Option(names = "--imap-port", defaultValue = "3143",
        description = "In-process mail server: IMAP port to read it with any mail client (default: ${DEFAULT-VALUE}).")
    int imapPort;

    @Option(names = "--smtp-server", defaultValue = "${env:FLEETPLANE_LOCAL_SMTP_SERVER}",
        description = "Send distribution e-mail to this SMTP server (host:port) instead of the in-process one; "
            + "credentials from FLEETPLANE_SMTP_USER / FLEETPLANE_SMTP_PASSWORD.")
    String smtpServer;

    @Override
    public Integer call() throws Exception {
      LocalPlatform platform;
      try {
        platform = LocalPlatform.start(new LocalPlatform.Options(dataDir, httpPort, kafkaPort, mqttPort,
            Optional.ofNullable(mqttUri), postgresPort, !noKamonAgent, mqttPersistence, smtpPort, imapPort,
            Optional.ofNullable(smtpServer)));
      } catch (Exception e) {
        System.err.println();
        System.err.println("fleetplane local could not start: " + e.getMessage());
        return 2;
      }
      int port = platform.node().httpPort();
      System.out.printf("%nFleetplane is up.%n  HTTP    http://127.0.0.1:%d/api/v1/devices/{deviceSessionId}"
              + "   (ready: http://127.0.0.1:%d/health/ready)%n  MQTT    %s%n  Kafka   %s%n  Data    %s%n"
              + "  Token   %s   (admin; curl -H \"Authorization: Bearer $(cat %s)\" ...;"
              + " ./fleetplane token mints others)%n",
          port, port, platform.mqttUri(), platform.kafkaBootstrapServers(), dataDir.toAbsolutePath(),
          platform.credentials().adminTokenFile(), platform.credentials().adminTokenFile());
      platform.mail().ifPresentOrElse(mail -> System.out.printf(
              "  Mail    IMAP %s:%d, SMTP %s:%d   (in-process, plain, no TLS; log in with the recipient's e-mail"
                  + " address as user and as password; emptied on restart)%n",
              LocalMail.HOST, mail.imapPort(), LocalMail.HOST, mail.smtpPort()),
          () -> System.out.printf("  Mail    sent to %s%n", smtpServer));
      System.out.println("Press Ctrl-C to stop.");
      CountDownLatch stopped = new CountDownLatch(1);
      Runtime.getRuntime().addShutdownHook(new Thread(() -> {
        platform.close();
        stopped.countDown();
      }, "fleetplane-local-shutdown"));
      platform.node().system().getWhenTerminated().toCompletableFuture().join();
      stopped.await();
      return 0;
    }
  }

  @Command(name = "node", mixinStandardHelpOptions = true,
      description = "Run one node against external Kafka, MQTT and PostgreSQL, configured by "
          + "application.conf or FLEETPLANE_* environment variables (see README).")
  static final class Node implements Callable<Integer> {
    @Override
    public Integer call() throws Exception {
      FleetplaneNode node = FleetplaneNode.start(io.fleetplane.config.FleetplaneConfig.load());
      System.out.printf("Fleetplane node up on HTTP port %d. Ctrl-C stops it.%n", node.httpPort());
      node.system().getWhenTerminated().toCompletableFuture().join();
      return 0;
    }
  }

  @Command(name = "bridge",
      description = "Run the MQTT <-> Kafka bridge as its own process (configured like the node: "
          + "FLEETPLANE_MQTT_URI, FLEETPLANE_KAFKA_BOOTSTRAP_SERVERS, ...). Health and metrics on "
          + "127.0.0.1:8091 (/health, /metrics). ./fleetplane bridge --help for its options.")
  static final class Bridge implements Runnable {
    @CommandLine.Unmatched
    java.util.List<String> args = new java.util.ArrayList<>();

    @Override
    public void run() {
      // BridgeMain owns its arguments (--config, --help), signals and exit codes.
      io.fleetplane.bridge.BridgeMain.main(args.toArray(String[]::new));
    }
  }

  @Command(name = "bench", mixinStandardHelpOptions = true,
      description = "Run benchmarks with their baselines in the same run; print the table and append "
          + "it to docs/benchmarks.md. Scenarios: bridge, ingest, canary, e2e, idle-sessions, http, schedules, distribution, workflow (default, or 'all': every one).")
  static final class Bench implements Callable<Integer> {
    @CommandLine.Parameters(arity = "0..*", description = "Scenarios to run: bridge, ingest, canary, e2e, idle-sessions, http, schedules, distribution, workflow, all.")
    java.util.List<String> scenarios = new java.util.ArrayList<>();

    @Option(names = "--runs", defaultValue = "3", description = "Repetitions per scenario (default: ${DEFAULT-VALUE}).")
    int runs;

    @Option(names = "--messages", defaultValue = "20000", description = "Messages per max-rate run (default: ${DEFAULT-VALUE}).")
    int messages;

    @Option(names = "--payload-bytes", defaultValue = "1024", description = "MQTT payload size (default: ${DEFAULT-VALUE}).")
    int payloadBytes;

    @Option(names = "--publishers", defaultValue = "4", description = "Publishing MQTT clients (default: ${DEFAULT-VALUE}).")
    int publishers;

    @Option(names = "--rate", defaultValue = "900", description = "Paced rate for the latency scenario, msg/s (default: ${DEFAULT-VALUE}).")
    int rate;

    @Option(names = "--no-record", description = "Print only; do not append to docs/benchmarks.md.")
    boolean noRecord;

    @Option(names = "--warmup", defaultValue = "1",
        description = "Unrecorded runs first, so the JIT has compiled the hot paths (default: ${DEFAULT-VALUE}).")
    int warmup;

    @Option(names = "--sessions", defaultValue = "3000", description = "Ingest: device sessions in the burst (default: ${DEFAULT-VALUE}).")
    int sessions;

    @Option(names = "--per-session", defaultValue = "10", description = "Ingest: records per session (default: ${DEFAULT-VALUE}).")
    int perSession;

    @Option(names = "--partitions", defaultValue = "8", description = "Ingest: topic partitions (default: ${DEFAULT-VALUE}).")
    int partitions;

    @Option(names = "--warm-sessions", description = "Ingest: create every session before the measured burst "
        + "(measures per-event cost without the one-time cost of new sessions).")
    boolean warmSessions;

    @Option(names = "--canary-clients", defaultValue = "3000", description = "Canary: clients in the burst (default: ${DEFAULT-VALUE}).")
    int canaryClients;

    @Option(names = "--canary-messages", defaultValue = "10", description = "Canary: messages per client (default: ${DEFAULT-VALUE}).")
    int canaryMessages;

    @Option(names = "--e2e-seconds", defaultValue = "30", description = "End to end: seconds of steady load per run (default: ${DEFAULT-VALUE}).")
    int e2eSeconds;

    @Option(names = "--idle-sessions", defaultValue = "100000", description = "Idle sessions: sessions to create (default: ${DEFAULT-VALUE}).")
    int idleSessions;

    /** Prints a scenario's table and appends it to docs/benchmarks.md unless --no-record. */
    private void record(String markdown) throws java.io.IOException {
      System.out.println(markdown);
      if (!noRecord) {
        java.nio.file.Path file = java.nio.file.Path.of(System.getProperty("fleetplane.home", "."), "docs", "benchmarks.md");
        io.fleetplane.http.bench.BenchmarkReport.append(file, markdown);
        System.out.println("Appended to " + file.toAbsolutePath().normalize());
      }
    }

    @Option(names = "--http-devices", defaultValue = "1000", description = "HTTP: device sessions read round-robin (default: ${DEFAULT-VALUE}).")
    int httpDevices;

    @Option(names = "--http-connections", defaultValue = "64", description = "HTTP: wrk connections (default: ${DEFAULT-VALUE}).")
    int httpConnections;

    @Option(names = "--http-threads", defaultValue = "2", description = "HTTP: wrk threads (default: ${DEFAULT-VALUE}).")
    int httpThreads;

    @Option(names = "--http-seconds", defaultValue = "10", description = "HTTP: seconds per scenario and run (default: ${DEFAULT-VALUE}).")
    int httpSeconds;

    @Option(names = "--http-jfr", description = "HTTP: after the measured runs, one more device-read run under JFR (not recorded), saved to this file; prints its hot methods.")
    java.nio.file.Path httpJfr;

    private void runHttp() throws Exception {
      String command = "./fleetplane bench http --runs " + runs + " --warmup " + warmup + " --http-devices " + httpDevices
          + " --http-connections " + httpConnections + " --http-threads " + httpThreads + " --http-seconds " + httpSeconds
          + (httpJfr == null ? "" : " --http-jfr " + httpJfr);
      record(new io.fleetplane.http.bench.HttpBenchmark(httpDevices, httpConnections, httpThreads, httpSeconds,
          java.util.Optional.ofNullable(httpJfr)).run(runs, warmup, command));
    }

    @Option(names = "--schedules", defaultValue = "1000", description = "Schedules: schedules due at the same second (default: ${DEFAULT-VALUE}).")
    int schedulesDue;

    @Option(names = "--wf-iterations", defaultValue = "100000", description = "Workflow: iterations of the big foreach (default: ${DEFAULT-VALUE}).")
    int wfIterations;

    @Option(names = "--wf-fanout", defaultValue = "10000", description = "Workflow: iterations/children run on both Fleetplane and the Temporal peer (default: ${DEFAULT-VALUE}).")
    int wfFanout;

    @Option(names = "--wf-concurrency", defaultValue = "200", description = "Workflow: iterations/children running at once, both systems (default: ${DEFAULT-VALUE}).")
    int wfConcurrency;

    @Option(names = "--wf-backfill-hours", defaultValue = "43800", description = "Workflow: iterations of examples/backfill.yaml; 0 skips it (default: ${DEFAULT-VALUE}).")
    int wfBackfillHours;

    @Option(names = "--wf-jfr", description = "Workflow: after the measured runs, one more big foreach under JFR (not recorded), saved to this file; reports its hot methods.")
    java.nio.file.Path wfJfr;

    private void runWorkflow() throws Exception {
      String command = "./fleetplane bench workflow --runs " + runs + " --warmup " + warmup + " --wf-iterations " + wfIterations
          + " --wf-fanout " + wfFanout + " --wf-concurrency " + wfConcurrency + " --wf-backfill-hours " + wfBackfillHours
          + (wfJfr == null ? "" : " --wf-jfr " + wfJfr);
      record(new io.fleetplane.http.bench.WorkflowBenchmark(wfIterations, wfFanout, wfConcurrency, wfBackfillHours,
          java.util.Optional.ofNullable(wfJfr)).run(runs, warmup, command));
    }

    private void runSchedules() throws Exception {
      String command = "./fleetplane bench schedules --runs " + runs + " --warmup " + warmup + " --schedules " + schedulesDue;
      record(new io.fleetplane.http.bench.SchedulesBenchmark(schedulesDue).run(runs, warmup, command));
    }

    @Option(names = "--dist-files", defaultValue = "10", description = "Distribution: source PDFs per job (default: ${DEFAULT-VALUE}).")
    int distFiles;

    @Option(names = "--dist-recipients", defaultValue = "100,1000", split = ",",
        description = "Distribution: recipients per job, one job size each (files x recipients copies; default: ${DEFAULT-VALUE}).")
    java.util.List<Integer> distRecipients;

    @Option(names = "--dist-pages", defaultValue = "10", description = "Distribution: pages per source PDF (default: ${DEFAULT-VALUE}).")
    int distPages;

    @Option(names = "--dist-parallelism", defaultValue = "0",
        description = "Distribution: threads of the work pool and of the raw loop; 0 = cores (default: ${DEFAULT-VALUE}).")
    int distParallelism;

    // fallbackValue: without it picocli 4.7 toggles a true-by-default negatable option, so
    // --dist-password would turn protection off.
    @Option(names = "--dist-password", negatable = true, defaultValue = "true", fallbackValue = "true",
        description = "Distribution: AES-256 password per copy, in both scenarios (default: ${DEFAULT-VALUE}).")
    boolean distPassword;

    @Option(names = "--dist-jfr", description = "Distribution: after the measured runs, one more job of the first size under JFR (not recorded), saved to this file; prints its hot methods.")
    java.nio.file.Path distJfr;

    private void runDistribution() throws Exception {
      String command = "./fleetplane bench distribution --runs " + runs + " --warmup " + warmup + " --dist-files " + distFiles
          + " --dist-recipients " + distRecipients.stream().map(String::valueOf).collect(java.util.stream.Collectors.joining(","))
          + " --dist-pages " + distPages + " --dist-parallelism " + distParallelism
          + (distPassword ? "" : " --no-dist-password") + (distJfr == null ? "" : " --dist-jfr " + distJfr);
      record(new io.fleetplane.http.bench.DistributionBenchmark(distFiles, distRecipients, distPages, distParallelism,
          distPassword, java.util.Optional.ofNullable(distJfr)).run(runs, warmup, command));
    }

    private void runEndToEnd() throws Exception {
      String command = "./fleetplane bench e2e --runs " + runs + " --warmup " + warmup + " --rate " + rate
          + " --e2e-seconds " + e2eSeconds + " --payload-bytes " + payloadBytes;
      record(new io.fleetplane.http.bench.EndToEndBenchmark(rate, e2eSeconds, payloadBytes).run(runs, warmup, command));
    }

    private void runIdleSessions() throws Exception {
      String command = "./fleetplane bench idle-sessions --runs " + runs + " --idle-sessions " + idleSessions;
      record(new io.fleetplane.http.bench.IdleSessionsBenchmark(idleSessions).run(runs, command));
    }

    private void runCanary() throws Exception {
      String command = "./fleetplane bench canary --runs " + runs + " --warmup " + warmup + " --canary-clients "
          + canaryClients + " --canary-messages " + canaryMessages + " --payload-bytes " + payloadBytes;
      String markdown = new io.fleetplane.http.bench.CanaryBenchmark(canaryClients, canaryMessages, payloadBytes)
          .run(runs, warmup, command);
      record(markdown);
    }

    private void runIngest() throws Exception {
      var bench = new io.fleetplane.http.bench.IngestBenchmark(sessions, perSession, payloadBytes, partitions, warmSessions);
      java.util.List<io.fleetplane.http.bench.IngestBenchmark.Run> results = new java.util.ArrayList<>();
      var db = io.fleetplane.testkit.infra.TestPostgres.newSchema();
      try (var kafka = io.fleetplane.http.bench.BridgeBenchmark.startKafka()) {
        for (int run = 1 - warmup; run <= runs; run++) {
          System.out.printf("ingest: %s (%,d records)%n", run < 1 ? "warm-up run (not recorded)"
              : "run " + run + "/" + runs, bench.records());
          for (var result : java.util.List.of(bench.fleetplane(kafka, db), bench.springBaseline(kafka, db),
              bench.rawJdbc(db))) {
            System.out.printf("  %-62s %,9.0f records/s  peak lag %,7d  drain %5.1f s%n", result.scenario(),
                result.recordsPerSecond(), result.peakLag(), result.drainSeconds());
            if (run >= 1) {
              results.add(result);
            }
          }
        }
      } finally {
        io.fleetplane.testkit.infra.TestPostgres.dropSchema(db);
      }
      String command = "./fleetplane bench ingest --runs " + runs + " --warmup " + warmup + " --sessions " + sessions + " --per-session "
          + perSession + " --payload-bytes " + payloadBytes + " --partitions " + partitions
          + (warmSessions ? " --warm-sessions" : "");
      String markdown = io.fleetplane.http.bench.IngestBenchmark.markdown(results, command,
          "Kafka 3.9.2 in-process (KRaft), PostgreSQL " + "on 127.0.0.1 (one schema per invocation); a burst of "
              + sessions + " sessions x " + perSession + " updates of " + payloadBytes + " bytes on " + partitions
              + " partitions, published while the consumer runs; lag = published - persisted.");
      record(markdown);
    }

    /** Every scenario by name, in the order 'all' runs them. A new benchmark adds one entry here. */
    private java.util.Map<String, java.util.concurrent.Callable<Void>> scenarioRunners() {
      java.util.Map<String, java.util.concurrent.Callable<Void>> runners = new java.util.LinkedHashMap<>();
      runners.put("ingest", () -> { runIngest(); return null; });
      runners.put("canary", () -> { runCanary(); return null; });
      runners.put("e2e", () -> { runEndToEnd(); return null; });
      runners.put("idle-sessions", () -> { runIdleSessions(); return null; });
      runners.put("bridge", () -> { runBridge(); return null; });
      runners.put("http", () -> { runHttp(); return null; });
      runners.put("schedules", () -> { runSchedules(); return null; });
      runners.put("distribution", () -> { runDistribution(); return null; });
      runners.put("workflow", () -> { runWorkflow(); return null; });
      return runners;
    }

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    /**
     * Sizes for a suite run ('all', or several scenarios in one invocation), so the whole suite fits
     * its 15-minute budget on a 2-core machine. Each scenario's headline size stays the one its issue
     * names where that is affordable (the 3,000-client burst, 1,000 schedules, 1,000 watermarks); the
     * big single-scenario targets (100,000 idle sessions, a 100,000-iteration foreach, 10,000
     * watermarks) are measured by running that scenario alone with its defaults. An option given on
     * the command line always wins. The canary runs once: one burst takes about two minutes.
     */
    static final java.util.Map<String, java.util.Map<String, Object>> SUITE_SIZES = java.util.Map.of(
        "ingest", java.util.Map.of("--runs", 2, "--warmup", 0),
        "canary", java.util.Map.of("--runs", 1, "--warmup", 0),
        "e2e", java.util.Map.of("--runs", 2, "--warmup", 0, "--e2e-seconds", 15),
        "idle-sessions", java.util.Map.of("--runs", 2, "--warmup", 0, "--idle-sessions", 20_000),
        "bridge", java.util.Map.of("--runs", 2, "--warmup", 1, "--messages", 10_000),
        "http", java.util.Map.of("--runs", 3, "--warmup", 1, "--http-seconds", 5),
        "schedules", java.util.Map.of("--runs", 2, "--warmup", 1),
        "distribution", java.util.Map.of("--runs", 3, "--warmup", 1, "--dist-recipients", java.util.List.of(100)),
        "workflow", java.util.Map.of("--runs", 2, "--warmup", 1, "--wf-iterations", 20_000, "--wf-fanout", 2_000,
            "--wf-backfill-hours", 8_760));

    /** Sets the suite's size for each option of this scenario that the command line left alone. */
    void applySuiteSizes(String scenario) {
      CommandLine.ParseResult given = spec.commandLine().getParseResult();
      SUITE_SIZES.getOrDefault(scenario, java.util.Map.of()).forEach((option, value) -> {
        if (!given.hasMatchedOption(option)) {
          spec.findOption(option).setValue(value);
        }
      });
    }

    @Override
    public Integer call() throws Exception {
      var runners = scenarioRunners();
      java.util.List<String> selected = scenarios.isEmpty() || scenarios.contains("all")
          ? java.util.List.copyOf(runners.keySet()) : scenarios;
      for (String scenario : selected) {
        if (!runners.containsKey(scenario)) {
          System.err.println("Unknown scenario '" + scenario + "'. Available: " + String.join(", ", runners.keySet()) + ", all");
          return 2;
        }
      }
      boolean suite = selected.size() > 1;
      java.util.Map<String, Long> tookSeconds = new java.util.LinkedHashMap<>();
      long suiteStart = System.nanoTime();
      for (String scenario : selected) {
        if (suite) {
          applySuiteSizes(scenario);
          System.out.printf("%n=== suite: %s (%d of %d, %d s so far) ===%n", scenario, tookSeconds.size() + 1,
              selected.size(), (System.nanoTime() - suiteStart) / 1_000_000_000L);
        }
        long start = System.nanoTime();
        runners.get(scenario).call();
        tookSeconds.put(scenario, (System.nanoTime() - start) / 1_000_000_000L);
      }
      if (suite) {
        record(io.fleetplane.http.bench.BenchmarkReport.suiteSummary(
            "./fleetplane " + String.join(" ", spec.commandLine().getParseResult().originalArgs()),
            tookSeconds));
      }
      return 0;
    }

    private void runBridge() throws Exception {
      io.fleetplane.http.bench.BenchmarkReport report = new io.fleetplane.http.bench.BenchmarkReport();
      io.fleetplane.http.bench.BridgeBenchmark bench =
          new io.fleetplane.http.bench.BridgeBenchmark(messages, payloadBytes, publishers);
      try (var broker = io.fleetplane.http.bench.BridgeBenchmark.startBroker();
          var kafka = io.fleetplane.http.bench.BridgeBenchmark.startKafka()) {
        for (int run = 1 - warmup; run <= runs; run++) {
          System.out.printf("bridge: %s%n", run < 1 ? "warm-up run (not recorded)" : "run " + run + "/" + runs);
          for (var result : java.util.List.of(bench.mosquittoCeiling(broker), bench.bridge(broker, kafka, 0),
              bench.bridge(broker, kafka, rate))) {
            System.out.printf("  %-28s %,9.0f msg/s  p50 %6.1f ms  p99 %6.1f ms  lost %d%n", result.scenario(),
                result.messagesPerSecond(), result.p50Millis(), result.p99Millis(), result.lost());
            if (run >= 1) {
              report.add(result);
            }
          }
        }
      }
      String command = "./fleetplane bench bridge --runs " + runs + " --warmup " + warmup + " --messages " + messages
          + " --payload-bytes " + payloadBytes + " --publishers " + publishers + " --rate " + rate;
      String markdown = report.markdown("Bridge: MQTT QoS 1 -> Kafka", command, "mosquitto alone (ceiling)",
          "Mosquitto 2.0 (per-run process, max_inflight_messages 1000) and Kafka 3.9.2 (in-process KRaft, "
              + "acks=all, idempotent) on this machine, publishers and the measuring consumer in the same JVM; "
              + publishers + " publishers, 50 sessions, " + payloadBytes + "-byte payloads; latency = publisher "
              + "send -> record read from Kafka; bridge scenarios measured after "
              + io.fleetplane.http.bench.BridgeBenchmark.WARM_UP_MESSAGES + " warm-up messages on their fresh topic.");
      record(markdown);
    }
  }
}
