package io.fleetplane.http.bench;

import akka.actor.typed.ActorSystem;
import akka.actor.typed.javadsl.Behaviors;
import akka.cluster.typed.Cluster;
import akka.cluster.typed.Join;
import io.fleetplane.config.FleetplaneConfig;
import io.fleetplane.jobs.distribution.CopyRenderer;
import io.fleetplane.jobs.distribution.DistributionJob;
import io.fleetplane.jobs.distribution.DistributionSettings;
import io.fleetplane.jobs.distribution.Distributions;
import io.fleetplane.jobs.distribution.domain.DistributionRequest;
import io.fleetplane.jobs.distribution.domain.DistributionRequest.FileRequest;
import io.fleetplane.jobs.distribution.domain.DistributionRequest.RecipientRequest;
import io.fleetplane.jobs.distribution.domain.DistributionSecrets;
import io.fleetplane.jobs.distribution.domain.WatermarkTemplate;
import io.fleetplane.jobs.distribution.pdf.Watermarker;
import io.fleetplane.jobs.distribution.store.FileSystemDocumentStore;
import io.fleetplane.persistence.DatabaseMigrations;
import io.fleetplane.persistence.PersistenceSettings;
import io.fleetplane.testkit.infra.PostgresEndpoint;
import io.fleetplane.testkit.infra.TestPostgres;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;
import org.apache.pdfbox.Loader;
import org.apache.pdfbox.pdmodel.PDDocument;
import org.apache.pdfbox.pdmodel.PDPage;
import org.apache.pdfbox.pdmodel.PDPageContentStream;
import org.apache.pdfbox.pdmodel.common.PDRectangle;
import org.apache.pdfbox.pdmodel.font.PDType1Font;
import org.apache.pdfbox.pdmodel.font.Standard14Fonts;
import org.apache.pdfbox.text.PDFTextStripper;

/**
 * {@code ./fleetplane bench distribution} (issue 7): per-recipient watermarked copies of
 * multi-page PDFs, {@code files x recipients} per job (default 10 x 100 = 1,000 and 10 x 1,000 =
 * 10,000), through the real path on one node: {@link Distributions#submit} creates a
 * {@link DistributionJob} (sharded, journaled in PostgreSQL), the shared work pool renders each
 * copy with the production renderer (watermark on every page, fingerprint, AES-256 when
 * {@code --dist-password}), stores it in the filesystem document store and the job journals each
 * result. Wall time is submit -> the job's {@code JobFinished} time. E-mail notifications are off
 * (the request says so, and the node's notifier refuses to send): the figure is
 * watermarks, and a local SMTP server's speed is not Fleetplane's.
 *
 * <p>Ceiling in the same run: the same per-copy PDF work ({@link Watermarker#render} with the
 * same source, watermark text, fingerprint and password) for the same number of copies on a plain
 * fixed thread pool of the same size as the distribution pool: no actors, no journal, no store.
 * The ratio fleetplane / ceiling is what the job machinery costs on top of the PDF work.
 */
public final class DistributionBenchmark {

  /** One scenario of one run. Heap figures in bytes. */
  public record Run(String scenario, int copies, double seconds, long peakHeapBytes, long peakAfterGcBytes) {
    double copiesPerSecond() {
      return copies / seconds;
    }
  }

  /** The target, 1,000 copies in 15 s and 10,000 in 150 s: 15 ms per copy on 2 cores. */
  static final double TARGET_SECONDS_PER_COPY = 0.015;
  /** The target ratio to the raw PDFBox loop. */
  static final double TARGET_RATIO = 1.3;
  static final String FLEETPLANE = "fleetplane job (actor + journal + store)";
  static final String RAW = "raw PDFBox loop (ceiling)";
  private static final String TEMPLATE = WatermarkTemplate.DEFAULT;
  private static final long PROGRESS_EVERY_NANOS = TimeUnit.SECONDS.toNanos(2);

  private final int files;
  private final List<Integer> recipients;
  private final int pages;
  private final int parallelism;
  private final boolean password;
  private final Optional<Path> jfr;

  /**
   * @param recipients one job size per entry (files x entry copies), run in this order
   * @param parallelism threads of the distribution pool and of the ceiling's pool; 0 = cores
   * @param jfr when present, one more (unrecorded) fleetplane job of the first size under JFR
   */
  public DistributionBenchmark(int files, List<Integer> recipients, int pages, int parallelism, boolean password,
      Optional<Path> jfr) {
    if (files < 1 || pages < 1 || recipients.isEmpty() || recipients.stream().anyMatch(r -> r < 1)) {
      throw new IllegalArgumentException("--dist-files, --dist-pages and every --dist-recipients size must be >= 1"
          + " (e.g. --dist-files 10 --dist-recipients 100,1000 --dist-pages 10)");
    }
    this.files = files;
    this.recipients = List.copyOf(recipients);
    this.pages = pages;
    this.parallelism = parallelism > 0 ? parallelism : Runtime.getRuntime().availableProcessors();
    this.password = password;
    this.jfr = jfr;
  }

  public String run(int runs, int warmup, String command) throws Exception {
    // Without the standard fonts installed, PDFBox warns "Using fallback font ..." once per copy
    // (both scenarios alike): 10,000 lines would bury the progress lines. Errors still show.
    var fontLog = (ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger(PDType1Font.class);
    var fontLevel = fontLog.getLevel();
    fontLog.setLevel(ch.qos.logback.classic.Level.ERROR);
    try {
      return measure(runs, warmup, command);
    } finally {
      fontLog.setLevel(fontLevel);
    }
  }

  private String measure(int runs, int warmup, String command) throws Exception {
    PostgresEndpoint db = TestPostgres.newSchema();
    Path storeDir = Files.createTempDirectory("fp-bench-distribution-");
    List<Run> results = new ArrayList<>();
    ActorSystem<Void> system = null;
    try {
      DatabaseMigrations.migrate(new PersistenceSettings(db.jdbcUrl(), db.user(), db.password(), 4, true,
          Duration.ofSeconds(10)));
      system = startNode(db, storeDir);
      Distributions distributions = Distributions.get(system);
      DistributionSecrets secrets = new DistributionSecrets(distributions.settings().secret());
      List<byte[]> sources = new ArrayList<>();
      List<FileRequest> fileRequests = new ArrayList<>();
      for (int f = 0; f < files; f++) {
        byte[] pdf = script("Episode 1" + f + " - shooting script", pages, f);
        sources.add(pdf);
        // Upload (checks, store, page-1 thumbnail) happens once per file before any job: not measured.
        fileRequests.add(new FileRequest(distributions.upload(pdf).documentId(), "episode-1" + f + ".pdf"));
      }
      System.out.printf(Locale.ROOT, "distribution: %d files of %d pages (%,d bytes each on average), pool of %d"
              + " threads, password protection %s, store %s%n", files, pages,
          sources.stream().mapToLong(s -> s.length).sum() / files, parallelism, password ? "on" : "off", storeDir);
      for (int size = 0; size < recipients.size(); size++) {
        int people = recipients.get(size);
        int copies = files * people;
        // Warm-up only before the first size: after it the JIT has compiled the same paths the
        // larger sizes run, and a warm-up of a 10,000-copy job would cost minutes for nothing.
        for (int run = 1 - (size == 0 ? warmup : 0); run <= runs; run++) {
          System.out.printf(Locale.ROOT, "distribution: %,d copies (%d files x %,d recipients), %s%n", copies, files,
              people, run < 1 ? "warm-up run (not recorded)" : "run " + run + "/" + runs);
          // Alternating which goes first, so neither always inherits the other's garbage and heap growth.
          Run raw = run % 2 == 0 ? raw(sources, secrets, people) : null;
          Finished job = fleetplane(distributions, fileRequests, people);
          checkFleetplaneCopy(distributions, job.jobId());
          Run fleetplane = job.run();
          if (raw == null) {
            raw = raw(sources, secrets, people);
          }
          for (Run r : List.of(fleetplane, raw)) {
            System.out.printf(Locale.ROOT, "  %-42s %7.2f s  %7.1f copies/s  peak heap %,6d MiB  after GC %6s MiB%n",
                r.scenario(), r.seconds(), r.copiesPerSecond(), mib(r.peakHeapBytes()), afterGc(r.peakAfterGcBytes()));
            if (run >= 1) {
              results.add(r);
            }
          }
          System.out.printf(Locale.ROOT, "  ratio fleetplane / raw loop: %.2f%n", fleetplane.seconds() / raw.seconds());
        }
      }
      if (jfr.isPresent()) {
        profiled(distributions, fileRequests, recipients.get(0));
      }
    } finally {
      if (system != null) {
        system.terminate();
        system.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
      }
      TestPostgres.dropSchema(db);
      deleteRecursively(storeDir);
    }
    return markdown(results, command);
  }

  /** A one-node cluster with distribution jobs on the PostgreSQL schema; notifications refused. */
  private ActorSystem<Void> startNode(PostgresEndpoint db, Path storeDir) throws IOException {
    int largest = files * recipients.stream().mapToInt(Integer::intValue).max().orElseThrow();
    Map<String, Object> c = new HashMap<>();
    c.put("akka.actor.provider", "cluster");
    c.put("akka.remote.artery.canonical.hostname", "127.0.0.1");
    c.put("akka.remote.artery.canonical.port", 0);
    c.put("akka.loglevel", "WARNING");
    c.put("fleetplane.persistence.jdbc-url", db.jdbcUrl());
    c.put("fleetplane.persistence.user", db.user());
    c.put("fleetplane.persistence.password", db.password());
    c.put("fleetplane.jobs.distribution.store-dir", storeDir.toString());
    c.put("fleetplane.jobs.distribution.parallelism", parallelism);
    // Sizes beyond the default limit are the operator's explicit choice here.
    c.put("fleetplane.jobs.distribution.max-items", Math.max(10_000, largest));
    ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), "bench-distribution", FleetplaneConfig.load(c));
    Cluster cluster = Cluster.get(system);
    cluster.manager().tell(Join.create(cluster.selfMember().address()));
    DistributionSettings settings = DistributionSettings.fromConfig(system.settings().config());
    Distributions.start(system, settings, new Distributions.Parts(new FileSystemDocumentStore(settings.storeDir()),
        (messageId, toName, toEmail, subject, body) -> {
          throw new IllegalStateException("the distribution benchmark sends no notifications (emailNotification is"
              + " false in its requests); a notification for " + messageId + " means that option is ignored");
        },
        CopyRenderer.PDFBOX));
    return system;
  }

  // --- the two scenarios -----------------------------------------------------------------------

  private record Finished(Run run, String jobId) {}

  /** Submits one job and waits for its JobFinished; fails unless every copy completed. */
  private Finished fleetplane(Distributions distributions, List<FileRequest> fileRequests, int people)
      throws Exception {
    int copies = files * people;
    List<RecipientRequest> crew = new ArrayList<>(people);
    for (int i = 0; i < people; i++) {
      crew.add(new RecipientRequest(name(i), email(i)));
    }
    DistributionRequest request = new DistributionRequest(fileRequests, crew, TEMPLATE, password, null, false);
    System.gc();
    Instant submitted;
    DistributionJob.Summary done;
    HeapPeak heap = new HeapPeak();
    try {
      submitted = Instant.now();
      String jobId = await(distributions.submit(request), Duration.ofSeconds(60)).summary().jobId();
      done = awaitFinished(distributions, jobId, copies);
    } finally {
      heap.close();
    }
    if (!"completed".equals(done.status())) {
      throw new IllegalStateException("job " + done.jobId() + " ended " + done.status() + " " + done.counts()
          + "; the benchmark measures complete jobs only. First failures: " + done.failures().stream().limit(3)
          .map(f -> f.itemId() + " at " + f.failedStep() + ": " + f.lastError()).toList());
    }
    double seconds = Duration.between(submitted, done.finishedAt()).toNanos() / 1e9;
    return new Finished(new Run(FLEETPLANE, copies, seconds, heap.peakUsedBytes(), heap.peakAfterGcBytes()),
        done.jobId());
  }

  private DistributionJob.Summary awaitFinished(Distributions distributions, String jobId, int copies)
      throws Exception {
    long start = System.nanoTime();
    // Generous (5 copies/s), so a slow shared machine reports its figure instead of a timeout.
    long limitSeconds = Math.max(120, copies / 5);
    long nextProgress = start + PROGRESS_EVERY_NANOS;
    while (true) {
      // finishedAt comes from the journaled JobFinished, so the poll interval does not blur the time.
      DistributionJob.Summary s = summary(distributions, jobId);
      if (s.finishedAt() != null) {
        return s;
      }
      long now = System.nanoTime();
      if (now >= nextProgress) {
        progress("fleetplane", s.counts().getOrDefault("completed", 0) + s.counts().getOrDefault("failed", 0),
            copies, now - start);
        nextProgress += PROGRESS_EVERY_NANOS;
      }
      if (now - start > TimeUnit.SECONDS.toNanos(limitSeconds)) {
        throw new IllegalStateException("job " + jobId + " did not finish within " + limitSeconds + " s (" + s.counts()
            + "); the machine may be overloaded: check `uptime`, or run smaller sizes (--dist-recipients)");
      }
      Thread.sleep(100);
    }
  }

  /**
   * The ceiling: the same renderer call per copy, with the same inputs a worker derives, on a
   * plain pool of the same size. Copies are dropped once made (the job's store write is the job's
   * cost, not the PDF work's).
   */
  private Run raw(List<byte[]> sources, DistributionSecrets secrets, int people) throws Exception {
    int copies = files * people;
    String jobId = UUID.randomUUID().toString();
    String date = Instant.now().atOffset(ZoneOffset.UTC).toLocalDate().toString();
    AtomicInteger made = new AtomicInteger();
    AtomicLong bytes = new AtomicLong();
    AtomicReference<byte[]> sample = new AtomicReference<>();
    AtomicReference<Throwable> failure = new AtomicReference<>();
    ExecutorService pool = Executors.newFixedThreadPool(parallelism, r -> {
      Thread t = new Thread(r, "bench-raw-pdfbox");
      t.setDaemon(true);
      return t;
    });
    System.gc();
    long start;
    long elapsed;
    HeapPeak heap = new HeapPeak();
    try {
      start = System.nanoTime();
      for (int f = 0; f < files; f++) {
        for (int i = 0; i < people; i++) {
          int file = f;
          int recipient = i;
          // The id the job gives the i-th recipient (DistributionRequest.validate).
          String recipientId = "r" + i;
          pool.execute(() -> {
            try {
              String watermark = WatermarkTemplate.render(TEMPLATE, Map.of(
                  "recipient.name", name(recipient),
                  "recipient.email", email(recipient),
                  "recipient.id", recipientId,
                  "date", date,
                  "job.id", jobId,
                  "file.name", "episode-1" + file + ".pdf"));
              byte[] copy = Watermarker.render(sources.get(file), watermark, secrets.fingerprint(jobId, recipientId),
                  password ? secrets.password(jobId, recipientId) : null);
              bytes.addAndGet(copy.length);
              if (file == 0 && recipient == 0) {
                sample.set(copy); // checked below with r0's password
              }
            } catch (Throwable e) {
              failure.compareAndSet(null, e);
            } finally {
              made.incrementAndGet();
            }
          });
        }
      }
      pool.shutdown();
      long nextProgress = start + PROGRESS_EVERY_NANOS;
      long limitNanos = TimeUnit.SECONDS.toNanos(Math.max(120, copies / 5));
      while (!pool.awaitTermination(100, TimeUnit.MILLISECONDS)) {
        long now = System.nanoTime();
        if (now >= nextProgress) {
          progress("raw loop", made.get(), copies, now - start);
          nextProgress += PROGRESS_EVERY_NANOS;
        }
        if (now - start > limitNanos) {
          throw new IllegalStateException("the raw PDFBox loop did not finish " + copies + " copies within "
              + limitNanos / 1_000_000_000 + " s (" + made.get() + " made); the machine may be overloaded");
        }
      }
      elapsed = System.nanoTime() - start;
    } finally {
      heap.close();
      pool.shutdownNow();
    }
    if (failure.get() != null) {
      throw new IllegalStateException("the raw PDFBox loop failed: " + failure.get(), failure.get());
    }
    checkCopy(sample.get(), password ? secrets.password(jobId, "r0") : null, "raw loop");
    return new Run(RAW, copies, elapsed / 1e9, heap.peakUsedBytes(), heap.peakAfterGcBytes());
  }

  /** Another fleetplane job of {@code people} recipients under JFR (not recorded); prints the hot methods. */
  private void profiled(Distributions distributions, List<FileRequest> fileRequests, int people) throws Exception {
    System.out.printf(Locale.ROOT, "distribution: %,d copies under JFR (profiling run, not recorded)%n",
        files * people);
    try (jdk.jfr.Recording recording = new jdk.jfr.Recording(jdk.jfr.Configuration.getConfiguration("profile"))) {
      recording.start();
      Run r = fleetplane(distributions, fileRequests, people).run();
      recording.stop();
      recording.dump(jfr.get());
      System.out.printf(Locale.ROOT, "  %-42s %7.2f s  %7.1f copies/s (under JFR)%n", r.scenario(), r.seconds(),
          r.copiesPerSecond());
      System.out.println("JFR recording: " + jfr.get().toAbsolutePath()
          + " (jfr print --events jdk.ExecutionSample, or JDK Mission Control)");
      JfrSummary.printHotMethods(jfr.get(), 25);
    }
  }

  // --- checks: both scenarios made real, openable, watermarked copies --------------------------

  private void checkFleetplaneCopy(Distributions distributions, String jobId) throws Exception {
    var page = await(distributions.items(jobId, "completed", 0, 1), Duration.ofSeconds(30));
    if (!(page instanceof DistributionJob.ItemsPage items) || items.items().isEmpty()) {
      throw new IllegalStateException("job " + jobId + " reports no completed item: " + page);
    }
    DistributionJob.ItemView item = items.items().get(0);
    byte[] copy = distributions.store().get(item.copyDocumentId()).orElseThrow(() -> new IllegalStateException(
        "copy " + item.copyDocumentId() + " of " + item.itemId() + " is not in the document store"));
    checkCopy(copy, password ? distributions.passwordFor(jobId, item.recipientId()) : null, "fleetplane job");
  }

  private void checkCopy(byte[] copy, String userPassword, String who) throws IOException {
    if (copy == null) {
      throw new IllegalStateException(who + " made no copy");
    }
    try (PDDocument doc = userPassword == null ? Loader.loadPDF(copy) : Loader.loadPDF(copy, userPassword)) {
      String text = new PDFTextStripper().getText(doc);
      if (doc.getNumberOfPages() != pages || !text.contains("Crew Member") || !text.contains("fpd1.")
          || doc.isEncrypted() != password) {
        throw new IllegalStateException(who + " made a copy that is not the expected work: " + doc.getNumberOfPages()
            + " pages (expected " + pages + "), encrypted " + doc.isEncrypted() + " (expected " + password
            + "), watermark " + text.contains("Crew Member") + ", fingerprint " + text.contains("fpd1."));
      }
    }
  }

  // --- helpers ---------------------------------------------------------------------------------

  private static String name(int i) {
    return "Crew Member " + i;
  }

  private static String email(int i) {
    return "crew" + i + "@example.com";
  }

  private static void progress(String scenario, int done, int copies, long elapsedNanos) {
    double seconds = elapsedNanos / 1e9;
    System.out.printf(Locale.ROOT, "    %-10s %,7d / %,d copies  %6.1f s  %6.1f copies/s%n", scenario, done, copies,
        seconds, done / seconds);
  }

  private static DistributionJob.Summary summary(Distributions distributions, String jobId) throws Exception {
    var reply = await(distributions.summary(jobId), Duration.ofSeconds(30));
    if (reply instanceof DistributionJob.SummaryFound found) {
      return found.summary();
    }
    throw new IllegalStateException("job " + jobId + " not found right after it was accepted: " + reply);
  }

  private static <T> T await(CompletionStage<T> stage, Duration timeout) throws Exception {
    return stage.toCompletableFuture().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
  }

  /**
   * A script-like source: {@code pages} A4 pages of 40 text lines each (PDFBox, standard font),
   * different per file so each file is its own document in the content-addressed store.
   */
  static byte[] script(String title, int pages, int variant) throws IOException {
    try (PDDocument doc = new PDDocument()) {
      var font = new PDType1Font(Standard14Fonts.FontName.COURIER);
      for (int p = 1; p <= pages; p++) {
        PDPage page = new PDPage(PDRectangle.A4);
        doc.addPage(page);
        try (PDPageContentStream cs = new PDPageContentStream(doc, page)) {
          cs.beginText();
          cs.setFont(font, 12);
          cs.newLineAtOffset(72, 760);
          cs.showText(title + " - page " + p);
          for (int line = 0; line < 40; line++) {
            cs.newLineAtOffset(0, -16);
            cs.showText("INT. SOUNDSTAGE " + (variant + 1) + " - DAY. Scene " + p + ", line " + line
                + ": the crew sets up the next shot.");
          }
          cs.endText();
        }
      }
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      doc.save(out);
      return out.toByteArray();
    }
  }

  private static long mib(long bytes) {
    return bytes / (1024 * 1024);
  }

  /** No collection during a run leaves nothing to report (a short run on a large heap). */
  private static String afterGc(long bytes) {
    return bytes == 0 ? "no GC" : String.format(Locale.ROOT, "%,d", mib(bytes));
  }

  private static void deleteRecursively(Path dir) throws IOException {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> walk = Files.walk(dir)) {
      for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }

  // --- report ----------------------------------------------------------------------------------

  String markdown(List<Run> results, String command) {
    StringBuilder md = new StringBuilder(BenchmarkReport.header("Distribution: watermarked copies, " + files
        + " files x " + recipients.stream().map(r -> String.format(Locale.ROOT, "%,d", r))
            .collect(java.util.stream.Collectors.joining(" / ")) + " recipients, " + pages + " pages", command, "One node in this JVM (cluster"
        + " sharding, DistributionJob journaled in PostgreSQL on 127.0.0.1, one schema per invocation, filesystem"
        + " document store in a temp directory); " + parallelism + "-thread distribution pool; each copy: watermark"
        + " (diagonal + footer) and invisible fingerprint on every page, fingerprint metadata"
        + (password ? ", AES-256 password" : ", no password") + "; no e-mail. Wall = submit -> JobFinished."
        + " Ceiling: the same Watermarker.render call per copy on a plain " + parallelism + "-thread pool, copies"
        + " dropped. Peak heap = most heap in use during the run (sampled every 10 ms and before each GC);"
        + " after GC = most heap still in use after a collection (what the run kept alive). Targets (issue 7):"
        + " 15 ms per copy (1,000 in <= 15 s, 10,000 in <= 150 s) and <= " + TARGET_RATIO + "x the raw loop."))
        .append("| copies | scenario | runs | wall s (median) | wall s min-max | copies/s (median) | peak heap MiB"
            + " (median) | after GC MiB (max) | ratio to raw loop |\n|---|---|---|---|---|---|---|---|---|\n");
    Map<Integer, Map<String, List<Run>>> bySize = new LinkedHashMap<>();
    results.forEach(r -> bySize.computeIfAbsent(r.copies(), k -> new LinkedHashMap<>())
        .computeIfAbsent(r.scenario(), k -> new ArrayList<>()).add(r));
    List<String> verdicts = new ArrayList<>();
    bySize.forEach((copies, byScenario) -> {
      double rawSeconds = BenchmarkReport.median(byScenario.getOrDefault(RAW, List.of()), Run::seconds);
      byScenario.forEach((scenario, list) -> md.append(String.format(Locale.ROOT,
          "| %,d | %s | %d | %.2f | %.2f-%.2f | %.1f | %,d | %s | %s |%n", copies, scenario, list.size(),
          BenchmarkReport.median(list, Run::seconds), list.stream().mapToDouble(Run::seconds).min().orElse(0),
          list.stream().mapToDouble(Run::seconds).max().orElse(0), BenchmarkReport.median(list, Run::copiesPerSecond),
          mib((long) BenchmarkReport.median(list, r -> r.peakHeapBytes())),
          afterGc(list.stream().mapToLong(Run::peakAfterGcBytes).max().orElse(0)),
          scenario.equals(RAW) ? "-" : String.format(Locale.ROOT, "%.2f",
              BenchmarkReport.median(list, Run::seconds) / rawSeconds))));
      List<Run> job = byScenario.getOrDefault(FLEETPLANE, List.of());
      if (!job.isEmpty()) {
        double seconds = BenchmarkReport.median(job, Run::seconds);
        double target = copies * TARGET_SECONDS_PER_COPY;
        double ratio = seconds / rawSeconds;
        verdicts.add(String.format(Locale.ROOT, "- %,d copies: %.1f s against a target of <= %.1f s: **%s**;"
                + " %.2fx the raw loop against <= %.1fx: **%s**; the raw loop alone took %.1f s, %s.", copies, seconds,
            target, seconds <= target ? "met" : "not met", ratio, TARGET_RATIO, ratio <= TARGET_RATIO ? "met" : "not met",
            rawSeconds, rawSeconds <= target ? "within the target"
                : "already over the target: the PDF work alone is too slow on this machine at " + pages + " pages"));
      }
    });
    md.append('\n').append(String.join("\n", verdicts)).append('\n');
    if (bySize.size() > 1) {
      StringBuilder heap = new StringBuilder("- Heap kept alive (after GC, max) of the fleetplane job by size:");
      bySize.forEach((copies, byScenario) -> heap.append(String.format(Locale.ROOT, " %,d copies %s MiB;", copies,
          afterGc(byScenario.getOrDefault(FLEETPLANE, List.of()).stream().mapToLong(Run::peakAfterGcBytes).max()
              .orElse(0)))));
      md.append(heap.deleteCharAt(heap.length() - 1)).append(".\n");
    }
    return md.toString();
  }
}
