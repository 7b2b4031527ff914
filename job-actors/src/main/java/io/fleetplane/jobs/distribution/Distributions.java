package io.fleetplane.jobs.distribution;

import akka.actor.typed.ActorSystem;
import akka.cluster.sharding.typed.javadsl.ClusterSharding;
import akka.cluster.sharding.typed.javadsl.EntityRef;
import akka.persistence.jdbc.query.javadsl.JdbcReadJournal;
import akka.persistence.query.Offset;
import akka.persistence.query.PersistenceQuery;
import io.fleetplane.config.ErrorCode;
import io.fleetplane.config.InvalidInputException;
import io.fleetplane.config.metrics.Metrics;
import io.fleetplane.jobs.distribution.domain.DistributionFile;
import io.fleetplane.jobs.distribution.domain.DistributionRequest;
import io.fleetplane.jobs.distribution.domain.DistributionSecrets;
import io.fleetplane.jobs.distribution.domain.DistributionSpec;
import io.fleetplane.jobs.distribution.notify.Notifier;
import io.fleetplane.jobs.distribution.notify.PushNotifier;
import io.fleetplane.jobs.distribution.notify.SmtpNotifier;
import io.fleetplane.jobs.distribution.pdf.PdfDocuments;
import io.fleetplane.jobs.distribution.pdf.Watermarker;
import io.fleetplane.jobs.distribution.store.DocumentStore;
import io.fleetplane.jobs.distribution.store.FileSystemDocumentStore;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.HashSet;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.pdfbox.Loader;
import org.apache.pdfbox.pdmodel.PDDocument;
import org.apache.pdfbox.text.PDFTextStripper;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Distribution jobs on one node: the document store, the shared work pool, the
 * {@link DistributionJob} entities, and the operations the HTTP API offers on them. Started once
 * per actor system ({@link #start}); routes find it with {@link #get}.
 */
public final class Distributions {

  private static final Logger log = LoggerFactory.getLogger(Distributions.class);
  /** By identity of the classic system: two systems may share a name (tests, several nodes in one JVM). */
  private static final Map<akka.actor.ActorSystem, Distributions> BY_SYSTEM =
      java.util.Collections.synchronizedMap(new java.util.IdentityHashMap<>());
  private static final Pattern UUID_PATTERN =
      Pattern.compile("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}");
  private static final Pattern FINGERPRINT = Pattern.compile("fpd1\\.[0-9a-f-]{36}\\.r[0-9]+\\.[A-Za-z0-9_-]{16}");

  public static final String METRIC_REJECTED = "fleetplane_jobs_distribution_requests_rejected";
  public static final String METRIC_DOWNLOADS = "fleetplane_jobs_distribution_link_requests";

  /** The replaceable parts; tests wrap the renderer or point the notifier at a stopped server. */
  public record Parts(DocumentStore store, Notifier notifier, PushNotifier pushNotifier, CopyRenderer renderer) {

    /** Without push: jobs that ask for it fail their items' push step with a reason. */
    public Parts(DocumentStore store, Notifier notifier, CopyRenderer renderer) {
      this(store, notifier, PushNotifier.UNAVAILABLE, renderer);
    }
  }

  private final ActorSystem<?> system;
  private final DistributionSettings settings;
  private final Parts parts;
  private final DistributionSecrets secrets;
  private final DistributionWorkPool pool;
  private final ClusterSharding sharding;

  private Distributions(ActorSystem<?> system, DistributionSettings settings, Parts parts) {
    this.system = system;
    this.settings = settings;
    this.parts = parts;
    this.secrets = new DistributionSecrets(settings.secret());
    this.sharding = ClusterSharding.get(system);
    this.pool = new DistributionWorkPool(system, settings, executor -> new DistributionWorker(system, settings,
        parts.store(), parts.notifier(), parts.pushNotifier(), parts.renderer(), secrets, executor));
  }

  /** Starts distribution jobs with the settings and parts from the system's configuration, without push. */
  public static Distributions start(ActorSystem<?> system) {
    return start(system, PushNotifier.UNAVAILABLE);
  }

  /** The same, with the node's push channel (Kafka lives outside job-actors). */
  public static Distributions start(ActorSystem<?> system, PushNotifier push) {
    DistributionSettings settings = DistributionSettings.fromConfig(system.settings().config());
    DistributionSettings.Smtp smtp = settings.smtp();
    try {
      return start(system, settings, new Parts(new FileSystemDocumentStore(settings.storeDir()),
          new SmtpNotifier(smtp.host(), smtp.port(), smtp.from(), smtp.user(), smtp.password(), smtp.startTls(),
              smtp.timeout()),
          push, CopyRenderer.PDFBOX));
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot create the document store at " + settings.storeDir(), e);
    }
  }

  public static Distributions start(ActorSystem<?> system, DistributionSettings settings, Parts parts) {
    Distributions d = new Distributions(system, settings, parts);
    if (BY_SYSTEM.putIfAbsent(system.classicSystem(), d) != null) {
      throw new IllegalStateException("distribution jobs already started on " + system.name());
    }
    system.getWhenTerminated().thenRun(() -> BY_SYSTEM.remove(system.classicSystem()));
    DistributionJob.init(system, d.pool, settings.maxResultsPerWrite());
    log.info("Distribution jobs started: {}", settings);
    if (settings.resumeOnStart()) {
      d.resumeUnfinished().whenComplete((n, e) -> {
        if (e != null) {
          log.error("Could not look for unfinished distribution jobs; they resume when next touched", e);
        } else if (n > 0) {
          log.info("Resumed {} unfinished distribution jobs", n);
        }
      });
    }
    return d;
  }

  /** The instance started on this system, if any (workflow distribution steps look it up). */
  public static Optional<Distributions> find(ActorSystem<?> system) {
    return Optional.ofNullable(BY_SYSTEM.get(system.classicSystem()));
  }

  /** The instance started on this system. */
  public static Distributions get(ActorSystem<?> system) {
    Distributions d = BY_SYSTEM.get(system.classicSystem());
    if (d == null) {
      throw new IllegalStateException("Distributions.start was not called on " + system.name());
    }
    return d;
  }

  public DistributionSettings settings() {
    return settings;
  }

  public DocumentStore store() {
    return parts.store();
  }

  // --- documents -------------------------------------------------------------------------------

  public record UploadedDocument(String documentId, int pages, long sizeBytes) {}

  /**
   * Checks and stores an uploaded source PDF, and makes its page-1 thumbnail (once per document:
   * the same bytes uploaded again are the same document).
   *
   * @throws InvalidInputException {@code document.*} when it is not a usable PDF
   */
  public UploadedDocument upload(byte[] content) throws IOException {
    PdfDocuments.PdfInfo info;
    try {
      info = PdfDocuments.inspect(content);
    } catch (InvalidInputException e) {
      Metrics.increment(METRIC_REJECTED, Map.of("code", e.errorCode().code()));
      throw e;
    }
    String id = parts.store().put(content);
    if (parts.store().thumbnail(id).isEmpty()) {
      parts.store().putThumbnail(id, PdfDocuments.thumbnail(content));
    }
    return new UploadedDocument(id, info.pages(), content.length);
  }

  // --- jobs ------------------------------------------------------------------------------------

  /**
   * Validates a request completely, then creates the job.
   *
   * @throws InvalidInputException the first problem, before anything is created
   */
  public CompletionStage<DistributionJob.Accepted> submit(DistributionRequest request) {
    return submit(request, UUID.randomUUID().toString());
  }

  /**
   * As {@link #submit(DistributionRequest)}, with the job id chosen by the caller: submitting the
   * same id again creates nothing and replies with the existing job (workflow distribution steps
   * derive the id from their idempotency key, so a re-dispatched step does not start a second job).
   *
   * @param jobId a UUID ({@link #isJobId})
   */
  public CompletionStage<DistributionJob.Accepted> submit(DistributionRequest request, String jobId) {
    if (!isJobId(jobId)) {
      throw new IllegalArgumentException("job id " + jobId + " is not a UUID");
    }
    DistributionSpec spec;
    try {
      spec = request.validate(settings.maxItems(), settings.defaultLinkTtl().toSeconds());
      if (spec.options().pushNotification() && parts.pushNotifier() == PushNotifier.UNAVAILABLE) {
        throw new InvalidInputException(ErrorCode.DISTRIBUTION_OPTIONS_INVALID,
            "pushNotification: push notifications are not configured on this node.");
      }
      for (int i = 0; i < spec.files().size(); i++) {
        DistributionFile f = spec.files().get(i);
        if (!parts.store().exists(f.documentId())) {
          throw new InvalidInputException(ErrorCode.DOCUMENT_NOT_FOUND, "files[" + i + "].documentId "
              + f.documentId() + " is not an uploaded document (POST /api/v1/documents returns the id).");
        }
      }
    } catch (InvalidInputException e) {
      Metrics.increment(METRIC_REJECTED, Map.of("code", e.errorCode().code()));
      throw e;
    } catch (IOException e) {
      return CompletableFuture.failedFuture(e);
    }
    return job(jobId).ask(replyTo -> new DistributionJob.CreateJob(spec, replyTo), settings.askTimeout());
  }

  /** Whether a string has the form of a job id (checked before any actor is started for it). */
  public static boolean isJobId(String s) {
    return s != null && UUID_PATTERN.matcher(s).matches();
  }

  public CompletionStage<DistributionJob.SummaryReply> summary(String jobId) {
    return job(jobId).ask(DistributionJob.GetSummary::new, settings.askTimeout());
  }

  public CompletionStage<DistributionJob.ItemsReply> items(String jobId, String state, int offset, int limit) {
    return job(jobId).ask(replyTo -> new DistributionJob.GetItems(state, offset, limit, replyTo), settings.askTimeout());
  }

  public CompletionStage<DistributionJob.CancelReply> cancel(String jobId) {
    return job(jobId).ask(DistributionJob.CancelJob::new, settings.askTimeout());
  }

  /** {@code recipientId} null revokes every link of the job. */
  public CompletionStage<DistributionJob.RevokeReply> revoke(String jobId, String recipientId) {
    return job(jobId).ask(replyTo -> new DistributionJob.RevokeLinks(recipientId, replyTo), settings.askTimeout());
  }

  // --- links -----------------------------------------------------------------------------------

  /** What a download link leads to. */
  public sealed interface LinkOutcome {}

  public record Download(String fileName, byte[] content) implements LinkOutcome {}

  public record Refused(DistributionJob.LinkReply reason) implements LinkOutcome {}

  /** Resolves a token to the recipient's copy; records the download. */
  public CompletionStage<LinkOutcome> download(String token) {
    Optional<String[]> parsed = DistributionSecrets.parseToken(token).filter(p -> isJobId(p[0]));
    if (parsed.isEmpty()) {
      Metrics.increment(METRIC_DOWNLOADS, Map.of("result", "unknown"));
      return CompletableFuture.completedFuture(new Refused(new DistributionJob.LinkUnknown()));
    }
    String jobId = parsed.get()[0];
    String itemId = parsed.get()[1];
    return job(jobId).<DistributionJob.LinkReply>ask(
            replyTo -> new DistributionJob.ResolveLink(itemId, DistributionSecrets.hashToken(token), replyTo),
            settings.askTimeout())
        .thenApply(reply -> {
          String result = reply.getClass().getSimpleName().replace("Link", "").toLowerCase(java.util.Locale.ROOT);
          Metrics.increment(METRIC_DOWNLOADS, Map.of("result", result));
          if (reply instanceof DistributionJob.LinkValid valid) {
            try {
              byte[] copy = parts.store().get(valid.copyDocumentId()).orElseThrow(() ->
                  new IllegalStateException("copy " + valid.copyDocumentId() + " of " + itemId + " is missing from the store"));
              return new Download(valid.fileName(), copy);
            } catch (IOException e) {
              throw new UncheckedIOException(e);
            }
          }
          return new Refused(reply);
        });
  }

  /**
   * The recipient's download URL for an item, re-derived from the job secret (only its hash is
   * journaled). A capability: hand it only to callers allowed to send copies ({@code jobs:write}).
   */
  public String link(String jobId, String itemId) {
    return settings.publicBaseUrl() + "/d/" + secrets.linkToken(jobId, itemId);
  }

  /** The password of a recipient's copies (tests and support tooling; never logged). */
  public String passwordFor(String jobId, String recipientId) {
    return secrets.password(jobId, recipientId);
  }

  /** Job and recipient a leaked copy was made for, from its fingerprint; empty when none is found. */
  public Optional<DistributionSecrets.Identified> identify(byte[] pdf) {
    try (PDDocument doc = Loader.loadPDF(pdf)) {
      String fromInfo = doc.getDocumentInformation().getCustomMetadataValue(Watermarker.FINGERPRINT_KEY);
      if (fromInfo != null) {
        Optional<DistributionSecrets.Identified> found = secrets.identify(fromInfo);
        if (found.isPresent()) {
          return found;
        }
      }
      // Metadata can be stripped; the invisible text on the pages is still there.
      Matcher m = FINGERPRINT.matcher(new PDFTextStripper().getText(doc));
      while (m.find()) {
        Optional<DistributionSecrets.Identified> found = secrets.identify(m.group());
        if (found.isPresent()) {
          return found;
        }
      }
      return Optional.empty();
    } catch (IOException e) {
      throw new InvalidInputException(ErrorCode.DOCUMENT_NOT_PDF, "Not a readable PDF: " + e.getMessage());
    }
  }

  // --- timeline ------------------------------------------------------------------------------

  /**
   * One journaled change of a job, as on-call reads it. {@code type}: {@code job-created},
   * {@code item-rendered}, {@code item-notified}, {@code item-failed}, {@code job-cancelled},
   * {@code job-finished}, {@code links-revoked}, {@code link-downloaded}.
   */
  public record TimelineEntry(long sequenceNr, java.time.Instant at, String type, String itemId, String recipientId,
      String step, Integer attempts, String status, String error) {}

  /** Up to {@code limit} changes after {@code afterSequenceNr}, oldest first, straight from the journal. */
  public CompletionStage<java.util.List<TimelineEntry>> timeline(String jobId, long afterSequenceNr, int limit) {
    JdbcReadJournal journal = PersistenceQuery.get(system)
        .getReadJournalFor(JdbcReadJournal.class, JdbcReadJournal.Identifier());
    return journal.currentEventsByPersistenceId(DistributionJob.ENTITY_TYPE_KEY.name() + "|" + jobId,
            afterSequenceNr + 1, Long.MAX_VALUE)
        .take(limit)
        .map(env -> entry(env.sequenceNr(), env.event()))
        .runWith(akka.stream.javadsl.Sink.seq(), system);
  }

  private static TimelineEntry entry(long seq, Object event) {
    if (event instanceof DistributionJob.JobCreated e) {
      return new TimelineEntry(seq, e.at(), "job-created", null, null, null, null, "pending", null);
    } else if (event instanceof DistributionJob.ItemRendered e) {
      return new TimelineEntry(seq, e.at(), "item-rendered", e.itemId(), recipientOf(e.itemId()), "render",
          e.attempts(), null, null);
    } else if (event instanceof DistributionJob.ItemNotified e) {
      return new TimelineEntry(seq, e.at(), "item-notified", e.itemId(), recipientOf(e.itemId()), "notify",
          e.attempts(), null, null);
    } else if (event instanceof DistributionJob.ItemFailed e) {
      return new TimelineEntry(seq, e.at(), "item-failed", e.itemId(), recipientOf(e.itemId()), e.step(),
          e.attempts(), null, e.reason());
    } else if (event instanceof DistributionJob.JobCancelled e) {
      return new TimelineEntry(seq, e.at(), "job-cancelled", null, null, null, null, null, null);
    } else if (event instanceof DistributionJob.JobFinished e) {
      return new TimelineEntry(seq, e.at(), "job-finished", null, null, null, null, e.status(), null);
    } else if (event instanceof DistributionJob.LinksRevoked e) {
      return new TimelineEntry(seq, e.at(), "links-revoked", null, e.recipientId(), null, null, null, null);
    } else if (event instanceof DistributionJob.LinkDownloaded e) {
      return new TimelineEntry(seq, e.at(), "link-downloaded", e.itemId(), recipientOf(e.itemId()), null, null,
          null, null);
    }
    return new TimelineEntry(seq, null, event.getClass().getSimpleName(), null, null, null, null, null, null);
  }

  private static String recipientOf(String itemId) {
    return itemId.substring(itemId.indexOf('-') + 1);
  }

  // --- resume ----------------------------------------------------------------------------------

  /**
   * Wakes every job whose {@code JobCreated} has no {@code JobFinished} yet (read from the
   * lifecycle tag), so work cut off by a crash continues without a client asking.
   */
  public CompletionStage<Integer> resumeUnfinished() {
    JdbcReadJournal journal = PersistenceQuery.get(system)
        .getReadJournalFor(JdbcReadJournal.class, JdbcReadJournal.Identifier());
    String prefix = DistributionJob.ENTITY_TYPE_KEY.name() + "|";
    return journal.currentEventsByTag(DistributionJob.LIFECYCLE_TAG, Offset.noOffset())
        .runFold((Set<String>) new HashSet<String>(), (open, envelope) -> {
          String jobId = envelope.persistenceId().substring(prefix.length());
          if (envelope.event() instanceof DistributionJob.JobCreated) {
            open.add(jobId);
          } else if (envelope.event() instanceof DistributionJob.JobFinished) {
            open.remove(jobId);
          }
          return open;
        }, system)
        .thenApply(open -> {
          open.forEach(jobId -> job(jobId).tell(new DistributionJob.Resume()));
          return open.size();
        });
  }

  private EntityRef<DistributionJob.Command> job(String jobId) {
    return sharding.entityRefFor(DistributionJob.ENTITY_TYPE_KEY, jobId);
  }
}
