package io.fleetplane.jobs.distribution;

import akka.actor.typed.ActorRef;
import akka.actor.typed.ActorSystem;
import akka.actor.typed.Behavior;
import akka.actor.typed.SupervisorStrategy;
import akka.actor.typed.javadsl.Behaviors;
import akka.cluster.sharding.typed.javadsl.ClusterSharding;
import akka.cluster.sharding.typed.javadsl.Entity;
import akka.cluster.sharding.typed.javadsl.EntityTypeKey;
import akka.persistence.typed.PersistenceId;
import akka.persistence.typed.RecoveryCompleted;
import akka.persistence.typed.javadsl.CommandHandlerWithReply;
import akka.persistence.typed.javadsl.EventHandler;
import akka.persistence.typed.javadsl.EventSourcedBehaviorWithEnforcedReplies;
import akka.persistence.typed.javadsl.ReplyEffect;
import akka.persistence.typed.javadsl.RetentionCriteria;
import akka.persistence.typed.javadsl.SignalHandler;
import io.fleetplane.config.CborSerializable;
import io.fleetplane.config.LogIds;
import io.fleetplane.config.metrics.Metrics;
import io.fleetplane.jobs.distribution.domain.DistributionFile;
import io.fleetplane.jobs.distribution.domain.DistributionSpec;
import io.fleetplane.jobs.distribution.domain.Recipient;
import io.fleetplane.persistence.StaleWriteFailures;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One distribution: files x recipients expanded into items with deterministic ids, each item's
 * progress journaled as it happens, and the links to the copies it made.
 *
 * <p><b>Work.</b> The job does no PDF or mail work itself: it hands its open items to the node's
 * shared {@link DistributionWorkPool} (after {@link JobCreated} is persisted, after every
 * recovery, and on {@link Resume}). Workers report back with {@link RecordRendered},
 * {@link RecordNotified} and {@link RecordFailed}; the job persists each and acknowledges only
 * then, so a worker notifies a recipient only about a copy whose event is in the journal. Results
 * are group-committed: those that arrive while a write is in flight are journaled together in the
 * next write (at most {@code max-results-per-write}), so a job is not capped at one database
 * commit per item.
 *
 * <p><b>Crashes.</b> Items whose result is journaled are never handed out again; items without one
 * are handed out again after recovery (a copy being rendered at the crash is rendered once more,
 * a notification being sent is sent once more with the same Message-ID: at-least-once, never
 * lost). Reports for items that are no longer open are acknowledged without effect, so duplicate
 * workers are harmless.
 *
 * <p><b>State.</b> The item map is mutable for speed (a 10,000-item job would otherwise copy the
 * map on each of its ~20,000 events); it never leaves the actor (replies are copies), and the job
 * takes no snapshots, which would read it from another thread. Recovery replays the events: about
 * two per item.
 *
 * <p><b>Lifecycle.</b> {@code pending} until an item has a result, then {@code running}, then
 * {@code completed}, {@code completed-with-errors} (some items failed) or {@code cancelled}. A
 * finished job still answers reads and serves its links.
 */
public final class DistributionJob
    extends EventSourcedBehaviorWithEnforcedReplies<DistributionJob.Command, DistributionJob.Event, DistributionJob.State> {

  private static final Logger log = LoggerFactory.getLogger(DistributionJob.class);
  static final String ITEM_ID = "itemId";

  // --- commands --------------------------------------------------------------------------------

  /** Messages a job accepts. */
  public sealed interface Command extends CborSerializable {}

  /**
   * Creates the job and starts its work. Replies {@link Accepted} once {@link JobCreated} is
   * persisted; a job that already exists replies {@link Accepted} with its current summary and
   * changes nothing (a retried request is harmless).
   */
  public record CreateJob(DistributionSpec spec, ActorRef<Accepted> replyTo) implements Command {}

  /** Replies {@link SummaryFound} or {@link NotFound}. */
  public record GetSummary(ActorRef<SummaryReply> replyTo) implements Command {}

  /** A page of items, optionally only those in one state ({@link ItemState#wire()}); replies {@link ItemsPage} or {@link NotFound}. */
  public record GetItems(String state, int offset, int limit, ActorRef<ItemsReply> replyTo) implements Command {}

  /**
   * Stops the remaining work: open items become {@code cancelled}; items already made keep their
   * copies and links. Replies {@link CancelAccepted}, {@link NotCancellable} when the job has
   * finished, or {@link NotFound}.
   */
  public record CancelJob(ActorRef<CancelReply> replyTo) implements Command {}

  /**
   * Revokes the links of one recipient ({@code recipientId}) or of the whole job (null): they
   * answer 410 from then on. Replies {@link LinksRevokedReply}, {@link RecipientNotFound} or {@link NotFound}.
   */
  public record RevokeLinks(String recipientId, ActorRef<RevokeReply> replyTo) implements Command {}

  /**
   * Checks a download link (by its token's hash) and records the download when valid. Replies a
   * {@link LinkReply}.
   */
  public record ResolveLink(String itemId, String tokenHash, ActorRef<LinkReply> replyTo) implements Command {}

  /** A worker made and stored an item's copy. Replies {@link ItemAck} after persisting. */
  public record RecordRendered(String itemId, String copyDocumentId, long copyBytes, String linkTokenHash,
      int attempts, ActorRef<ItemAck> replyTo) implements Command {}

  /** A worker delivered an item's notification. Replies {@link ItemAck} after persisting. */
  public record RecordNotified(String itemId, String messageId, int attempts, ActorRef<ItemAck> replyTo)
      implements Command {}

  /** An item failed permanently at {@code step}. Replies {@link ItemAck} after persisting. */
  public record RecordFailed(String itemId, String step, String reason, int attempts, ActorRef<ItemAck> replyTo)
      implements Command {}

  /** Sent when a node starts: an unfinished job hands its open items to the pool again. No reply. */
  public record Resume() implements Command {}

  /**
   * Sent by the job to itself after the first item result of a batch: journals every pending
   * result in one write, then acknowledges them (see {@link ResultBatch}). Local only.
   */
  private record FlushResults() implements Command {}

  // --- events ----------------------------------------------------------------------------------

  /** What a job journals. */
  public sealed interface Event extends CborSerializable {}

  public record JobCreated(String jobId, DistributionSpec spec, Instant at) implements Event {}

  /** The copy exists in the store; its link's token hash and expiry are fixed here. */
  public record ItemRendered(String itemId, String copyDocumentId, long copyBytes, String linkTokenHash,
      Instant linkExpiresAt, int attempts, Instant at) implements Event {}

  public record ItemNotified(String itemId, String messageId, int attempts, Instant at) implements Event {}

  public record ItemFailed(String itemId, String step, String reason, int attempts, Instant at) implements Event {}

  public record JobCancelled(Instant at) implements Event {}

  /** The last open item closed (or the job was cancelled); {@code status} is the final one. */
  public record JobFinished(String status, Instant at) implements Event {}

  /** {@code recipientId} null: every link of the job. */
  public record LinksRevoked(String recipientId, Instant at) implements Event {}

  public record LinkDownloaded(String itemId, Instant at) implements Event {}

  // --- state -----------------------------------------------------------------------------------

  public sealed interface State extends CborSerializable {}

  public record Empty() implements State {}

  /** An item's lifecycle; {@code PENDING} and {@code NOTIFYING} are open, the rest final. */
  public enum ItemState {
    PENDING("pending"), NOTIFYING("notifying"), COMPLETED("completed"), FAILED("failed"), CANCELLED("cancelled");

    private final String wire;

    ItemState(String wire) {
      this.wire = wire;
    }

    public String wire() {
      return wire;
    }

    boolean open() {
      return this == PENDING || this == NOTIFYING;
    }
  }

  /** One copy's progress. Immutable; the job's map replaces it on each change. */
  public record Item(String itemId, int fileIndex, String recipientId, ItemState state, int attempts,
      String failedStep, String lastError, String copyDocumentId, String linkTokenHash, Instant linkExpiresAt,
      int downloads, Instant updatedAt) implements CborSerializable {}

  /** A created job. {@code items} and {@code counts} are mutable and owned by the actor (see class doc). */
  public record Job(String jobId, DistributionSpec spec, Instant createdAt, LinkedHashMap<String, Item> items,
      EnumMap<ItemState, Integer> counts, boolean progressed, Instant cancelledAt, String finalStatus,
      Instant finishedAt, Set<String> revokedRecipients, boolean allRevoked) implements State {

    String status() {
      if (finalStatus != null) {
        return finalStatus;
      }
      return progressed ? "running" : "pending";
    }

    int open() {
      return counts.getOrDefault(ItemState.PENDING, 0) + counts.getOrDefault(ItemState.NOTIFYING, 0);
    }

    String closingStatus() {
      return counts.getOrDefault(ItemState.FAILED, 0) > 0 ? "completed-with-errors" : "completed";
    }

    void put(Item item) {
      Item old = items.put(item.itemId(), item);
      if (old != null) {
        counts.merge(old.state(), -1, Integer::sum);
      }
      counts.merge(item.state(), 1, Integer::sum);
    }

    boolean linkRevoked(String recipientId) {
      return allRevoked || revokedRecipients.contains(recipientId);
    }
  }

  // --- replies ---------------------------------------------------------------------------------

  /** An item as readers see it: what on-call needs without logs or SQL. */
  public record ItemView(String itemId, String documentId, String fileName, String recipientId,
      String recipientName, String recipientEmail, String state, int attempts, String failedStep,
      String lastError, String copyDocumentId, Instant linkExpiresAt, boolean linkRevoked, int downloads,
      Instant updatedAt) implements CborSerializable {}

  /** A job at a glance: status, counts by item state, and every failure with its reason (first 100). */
  public record Summary(String jobId, String status, Instant createdAt, Instant finishedAt, int totalItems,
      Map<String, Integer> counts, int files, int recipients, boolean passwordProtect, boolean emailNotification,
      boolean pushNotification, String priority, List<ItemView> failures) implements CborSerializable {}

  public record Accepted(Summary summary, boolean created) implements CborSerializable {}

  public sealed interface SummaryReply extends CborSerializable {}

  public record SummaryFound(Summary summary) implements SummaryReply {}

  public sealed interface ItemsReply extends CborSerializable {}

  public record ItemsPage(int total, int offset, List<ItemView> items) implements ItemsReply {}

  public sealed interface CancelReply extends CborSerializable {}

  public record CancelAccepted(Summary summary) implements CancelReply {}

  public record NotCancellable(String status) implements CancelReply {}

  public sealed interface RevokeReply extends CborSerializable {}

  public record LinksRevokedReply(int links) implements RevokeReply {}

  public record RecipientNotFound(String recipientId) implements RevokeReply {}

  /** The job does not exist; answers every read-type command. */
  public record NotFound() implements SummaryReply, ItemsReply, CancelReply, RevokeReply {}

  public sealed interface LinkReply extends CborSerializable {}

  public record LinkValid(String copyDocumentId, String fileName) implements LinkReply {}

  public record LinkRevoked() implements LinkReply {}

  public record LinkExpired(Instant expiredAt) implements LinkReply {}

  public record LinkUnknown() implements LinkReply {}

  /**
   * Reply to a worker's report. {@code proceed} false: the item is no longer open (cancelled,
   * already done by another worker) and the worker stops. {@code linkExpiresAt} is set once the
   * copy is recorded.
   */
  public record ItemAck(boolean proceed, Instant linkExpiresAt) implements CborSerializable {}

  // --- wiring ----------------------------------------------------------------------------------

  /** Entity type and persistence-id prefix: part of the journal schema, never rename. */
  public static final EntityTypeKey<Command> ENTITY_TYPE_KEY = EntityTypeKey.create(Command.class, "DistributionJob");

  /** Tag on {@link JobCreated} and {@link JobFinished}: what the node reads to resume unfinished jobs. */
  public static final String LIFECYCLE_TAG = "DistributionJob-lifecycle";

  public static final String METRIC_ITEMS = "fleetplane_jobs_distribution_items";
  /** Histogram: item results (ItemRendered/ItemNotified/ItemFailed) journaled per write. */
  public static final String METRIC_RESULTS_PER_WRITE = "fleetplane_jobs_distribution_results_per_write";
  static final int MAX_FAILURES_IN_SUMMARY = 100;

  static void init(ActorSystem<?> system, DistributionWorkPool pool, int maxResultsPerWrite) {
    ClusterSharding.get(system).init(Entity.of(ENTITY_TYPE_KEY,
        ctx -> create(ctx.getEntityId(), pool, maxResultsPerWrite)));
  }

  static Behavior<Command> create(String jobId, DistributionWorkPool pool, int maxResultsPerWrite) {
    if (maxResultsPerWrite < 1) {
      throw new IllegalArgumentException("fleetplane.jobs.distribution.max-results-per-write must be at least 1, was "
          + maxResultsPerWrite);
    }
    // A failed group-commit write leaves stale per-event failure replies that would stall the
    // restarted job's stash (and every command behind them) until outside traffic arrives.
    return Behaviors.withMdc(Command.class, Map.of(LogIds.JOB_ID, jobId), StaleWriteFailures.filtered(
        Behaviors.setup(ctx -> new DistributionJob(jobId, pool, maxResultsPerWrite, ctx.getSelf()))));
  }

  private final String jobId;
  private final DistributionWorkPool pool;
  private final int maxResultsPerWrite;
  private final ActorRef<Command> self;
  /**
   * Item results validated but not yet journaled. Held by this behavior instance, never in the
   * persisted state: it is only valid between a result command and the write that journals it,
   * and it is emptied on every recovery (a failed write restarts the entity; its workers' asks
   * time out and they report again).
   */
  private final ResultBatch batch = new ResultBatch();

  private DistributionJob(String jobId, DistributionWorkPool pool, int maxResultsPerWrite, ActorRef<Command> self) {
    super(PersistenceId.of(ENTITY_TYPE_KEY.name(), jobId),
        SupervisorStrategy.restartWithBackoff(Duration.ofMillis(200), Duration.ofSeconds(10), 0.2));
    this.jobId = jobId;
    this.pool = pool;
    this.maxResultsPerWrite = maxResultsPerWrite;
    this.self = self;
  }

  @Override
  public State emptyState() {
    return new Empty();
  }

  // --- command handlers ------------------------------------------------------------------------

  @Override
  public CommandHandlerWithReply<Command, Event, State> commandHandler() {
    var builder = newCommandHandlerWithReplyBuilder();
    builder.forStateType(Empty.class)
        .onCommand(CreateJob.class, this::create)
        .onCommand(GetSummary.class, c -> Effect().reply(c.replyTo(), new NotFound()))
        .onCommand(GetItems.class, c -> Effect().reply(c.replyTo(), new NotFound()))
        .onCommand(CancelJob.class, c -> Effect().reply(c.replyTo(), new NotFound()))
        .onCommand(RevokeLinks.class, c -> Effect().reply(c.replyTo(), new NotFound()))
        .onCommand(ResolveLink.class, c -> Effect().reply(c.replyTo(), new LinkUnknown()))
        .onCommand(RecordRendered.class, c -> Effect().reply(c.replyTo(), new ItemAck(false, null)))
        .onCommand(RecordNotified.class, c -> Effect().reply(c.replyTo(), new ItemAck(false, null)))
        .onCommand(RecordFailed.class, c -> Effect().reply(c.replyTo(), new ItemAck(false, null)))
        .onCommand(Resume.class, c -> Effect().noReply())
        .onCommand(FlushResults.class, c -> Effect().noReply());
    builder.forStateType(Job.class)
        .onCommand(CreateJob.class, (job, c) -> Effect().reply(c.replyTo(), new Accepted(summary(job), false)))
        .onCommand(GetSummary.class, (job, c) -> Effect().reply(c.replyTo(), new SummaryFound(summary(job))))
        .onCommand(GetItems.class, this::items)
        .onCommand(CancelJob.class, this::cancel)
        .onCommand(RevokeLinks.class, this::revoke)
        .onCommand(ResolveLink.class, this::resolveLink)
        .onCommand(RecordRendered.class, this::rendered)
        .onCommand(RecordNotified.class, this::notified)
        .onCommand(RecordFailed.class, this::failed)
        .onCommand(FlushResults.class, this::flushResults)
        .onCommand(Resume.class, (job, c) -> {
          submitOpenItems(job);
          return Effect().noReply();
        });
    return builder.build();
  }

  private ReplyEffect<Event, State> create(Empty state, CreateJob c) {
    return Effect().persist(new JobCreated(jobId, c.spec(), Instant.now()))
        .thenRun(s -> {
          Job job = (Job) s;
          log.info("Distribution job created: {} files x {} recipients = {} items", job.spec().files().size(),
              job.spec().recipients().size(), job.items().size());
          submitOpenItems(job);
        })
        .thenReply(c.replyTo(), s -> new Accepted(summary((Job) s), true));
  }

  private ReplyEffect<Event, State> items(Job job, GetItems c) {
    List<ItemView> matching = new ArrayList<>();
    int total = 0;
    for (Item item : job.items().values()) {
      if (c.state() == null || item.state().wire().equals(c.state())) {
        if (total >= c.offset() && matching.size() < c.limit()) {
          matching.add(view(job, item));
        }
        total++;
      }
    }
    return Effect().reply(c.replyTo(), new ItemsPage(total, c.offset(), matching));
  }

  private ReplyEffect<Event, State> cancel(Job job, CancelJob c) {
    if (job.finalStatus() != null) {
      return Effect().reply(c.replyTo(), new NotCancellable(job.finalStatus()));
    }
    // Results still pending were reported before the cancel, so they are applied first, in the
    // same write as the cancel: their workers get ItemAck(true) (their copies exist) and only
    // the items still open after them become cancelled. Flushing in a separate write first would
    // need the cancel to wait for it (re-sent or stashed), letting later commands overtake it.
    if (batch.closesJob(job)) {
      // The pending results close the last open items: nothing is left to cancel.
      return flush(job, List.of())
          .thenReply(c.replyTo(), s -> new NotCancellable(((Job) s).status()));
    }
    Instant now = Instant.now();
    return flush(job, List.of(new JobCancelled(now), new JobFinished("cancelled", now)))
        .thenRun(s -> {
          int dropped = pool.cancel(jobId);
          log.info("Distribution job cancelled; {} queued items dropped from the pool", dropped);
        })
        .thenReply(c.replyTo(), s -> new CancelAccepted(summary((Job) s)));
  }

  private ReplyEffect<Event, State> revoke(Job job, RevokeLinks c) {
    if (c.recipientId() != null && job.spec().recipients().stream().noneMatch(r -> r.id().equals(c.recipientId()))) {
      return Effect().reply(c.replyTo(), new RecipientNotFound(c.recipientId()));
    }
    // Copies whose results are still pending are revoked too (revocation is by recipient) and
    // journaled by the next flush; count them so the reply matches what the job will hold.
    int links = (int) job.items().values().stream()
        .filter(i -> i.copyDocumentId() != null && (c.recipientId() == null || i.recipientId().equals(c.recipientId())))
        .count() + batch.pendingCopies(job, c.recipientId());
    return Effect().persist(new LinksRevoked(c.recipientId(), Instant.now()))
        .thenRun(s -> log.info("Links revoked for {}", c.recipientId() == null ? "the whole job" : c.recipientId()))
        .thenReply(c.replyTo(), s -> new LinksRevokedReply(links));
  }

  private ReplyEffect<Event, State> resolveLink(Job job, ResolveLink c) {
    Item item = job.items().get(c.itemId());
    if (item == null || item.linkTokenHash() == null || !item.linkTokenHash().equals(c.tokenHash())) {
      return Effect().reply(c.replyTo(), new LinkUnknown());
    }
    if (job.linkRevoked(item.recipientId())) {
      return Effect().reply(c.replyTo(), new LinkRevoked());
    }
    if (Instant.now().isAfter(item.linkExpiresAt())) {
      return Effect().reply(c.replyTo(), new LinkExpired(item.linkExpiresAt()));
    }
    DistributionFile file = job.spec().files().get(item.fileIndex());
    return Effect().persist(new LinkDownloaded(item.itemId(), Instant.now()))
        .thenReply(c.replyTo(), s -> new LinkValid(item.copyDocumentId(), file.name()));
  }

  // Item results are group-committed: each is validated against the journaled state plus the
  // pending batch, added to the batch, and journaled with the others in one write by
  // FlushResults. Commands arriving during a write are stashed by Akka and unstashed before the
  // FlushResults queued by the first of them, so a batch holds everything that arrived during
  // the previous write, with no timer. One PostgreSQL commit per item capped a job at ~60
  // items/s; see docs/benchmarks.md.

  private ReplyEffect<Event, State> rendered(Job job, RecordRendered c) {
    Item item = job.items().get(c.itemId());
    if (item == null || batch.stateOf(item) != ItemState.PENDING) {
      // Another worker got there first, or the job was cancelled: tell this one to stop.
      return refuse(item, c.replyTo(), item == null ? null : batch.linkExpiresAt(item));
    }
    Instant now = Instant.now();
    Instant expires = now.plusSeconds(job.spec().options().linkTtlSeconds());
    boolean closes = !job.spec().options().notifies();
    return addResult(job, item, new ItemRendered(c.itemId(), c.copyDocumentId(), c.copyBytes(), c.linkTokenHash(),
            expires, c.attempts(), now), closes ? ItemState.COMPLETED : ItemState.NOTIFYING, expires,
        c.replyTo(), new ItemAck(true, expires));
  }

  private ReplyEffect<Event, State> notified(Job job, RecordNotified c) {
    Item item = job.items().get(c.itemId());
    if (item == null || batch.stateOf(item) != ItemState.NOTIFYING) {
      return refuse(item, c.replyTo(), null);
    }
    Instant expires = batch.linkExpiresAt(item);
    return addResult(job, item, new ItemNotified(c.itemId(), c.messageId(), c.attempts(), Instant.now()),
        ItemState.COMPLETED, expires, c.replyTo(), new ItemAck(true, expires));
  }

  private ReplyEffect<Event, State> failed(Job job, RecordFailed c) {
    Item item = job.items().get(c.itemId());
    if (item == null || !batch.stateOf(item).open()) {
      return refuse(item, c.replyTo(), null);
    }
    Metrics.increment(METRIC_ITEMS, Map.of("result", "failed", "step", c.step()));
    Instant expires = batch.linkExpiresAt(item);
    return addResult(job, item, new ItemFailed(c.itemId(), c.step(), c.reason(), c.attempts(), Instant.now()),
        ItemState.FAILED, expires, c.replyTo(), new ItemAck(true, expires));
  }

  /**
   * A report for an item that is not open (any more). When what closed it is still pending, the
   * refusal waits for that write like the acceptance does, so a worker is told to stop only
   * once another's result is in the journal (if the write fails, it asks again after recovery).
   */
  private ReplyEffect<Event, State> refuse(Item item, ActorRef<ItemAck> replyTo, Instant linkExpiresAt) {
    ItemAck ack = new ItemAck(false, linkExpiresAt);
    if (item != null && batch.touches(item.itemId())) {
      batch.deferReply(replyTo, ack);
      return Effect().noReply();
    }
    return Effect().reply(replyTo, ack);
  }

  private ReplyEffect<Event, State> addResult(Job job, Item item, Event event, ItemState next, Instant linkExpiresAt,
      ActorRef<ItemAck> replyTo, ItemAck ack) {
    batch.add(item, event, next, linkExpiresAt, replyTo, ack);
    if (batch.results() >= maxResultsPerWrite) {
      // Bounds the write (and the workers' wait) under a flood of results; any FlushResults
      // already queued finds a smaller batch or none.
      return flush(job, List.of()).thenNoReply();
    }
    if (!batch.flushQueued) {
      batch.flushQueued = true;
      self.tell(new FlushResults());
    }
    return Effect().noReply();
  }

  private ReplyEffect<Event, State> flushResults(Job job, FlushResults c) {
    batch.flushQueued = false;
    if (batch.results() == 0) {
      return Effect().noReply();
    }
    return flush(job, List.of()).thenNoReply();
  }

  /**
   * Persists the pending results and then {@code then} as one atomic write (one transaction),
   * with {@link JobFinished} after the results when they close the job's last open item, and
   * acknowledges every waiting worker once the write succeeded. Empties the batch.
   */
  private akka.persistence.typed.javadsl.EffectBuilder<Event, State> flush(Job job, List<Event> then) {
    List<Event> events = new ArrayList<>(batch.results() + then.size() + 1);
    events.addAll(batch.events);
    String finishedStatus = null;
    if (batch.closesJob(job)) {
      // The status once the last item closes: earlier failures, or one in this batch.
      finishedStatus = batch.anyFailed ? "completed-with-errors" : job.closingStatus();
      events.add(new JobFinished(finishedStatus, Instant.now()));
    }
    events.addAll(then);
    int results = batch.results();
    List<PendingReply> replies = List.copyOf(batch.replies);
    batch.clear();
    String status = finishedStatus;
    return Effect().persist(events)
        .thenRun(s -> {
          if (results > 0) {
            Metrics.recordValue(METRIC_RESULTS_PER_WRITE, Map.of(), results);
          }
          if (status != null) {
            log.info("Distribution job finished: {} ({})", status, ((Job) s).counts());
          }
          for (PendingReply r : replies) {
            r.replyTo().tell(r.ack());
          }
        });
  }

  /** A worker's answer, sent once the write holding its result succeeded. */
  private record PendingReply(ActorRef<ItemAck> replyTo, ItemAck ack) {}

  /** An item as the pending batch leaves it. */
  private record Projected(ItemState state, Instant linkExpiresAt) {}

  /**
   * The item results validated but not yet journaled, and what they will do to their items, so
   * that the next report for the same item is validated as if they were already journaled (a
   * duplicate RecordRendered for an item rendered in the batch is refused, as it would be after
   * the write). Owned by the actor; only touched from its command handlers.
   */
  private static final class ResultBatch {
    final List<Event> events = new ArrayList<>();
    final List<PendingReply> replies = new ArrayList<>();
    final Map<String, Projected> items = new HashMap<>();
    /** Open items this batch closes. */
    int closed;
    boolean anyFailed;
    /** A FlushResults is in the mailbox (or stash); not part of the batch, see {@link #clear()}. */
    boolean flushQueued;

    int results() {
      return events.size();
    }

    boolean touches(String itemId) {
      return items.containsKey(itemId);
    }

    ItemState stateOf(Item item) {
      Projected p = items.get(item.itemId());
      return p == null ? item.state() : p.state();
    }

    Instant linkExpiresAt(Item item) {
      Projected p = items.get(item.itemId());
      return p == null ? item.linkExpiresAt() : p.linkExpiresAt();
    }

    /** Whether journaling this batch closes the job's last open items (so JobFinished follows). */
    boolean closesJob(Job job) {
      return !events.isEmpty() && job.finalStatus() == null && job.open() - closed == 0;
    }

    /** Copies rendered in this batch for one recipient (null: for any). */
    int pendingCopies(Job job, String recipientId) {
      int n = 0;
      for (Event e : events) {
        if (e instanceof ItemRendered r
            && (recipientId == null || job.items().get(r.itemId()).recipientId().equals(recipientId))) {
          n++;
        }
      }
      return n;
    }

    void add(Item item, Event event, ItemState next, Instant linkExpiresAt, ActorRef<ItemAck> replyTo, ItemAck ack) {
      if (stateOf(item).open() && !next.open()) {
        closed++;
      }
      anyFailed |= event instanceof ItemFailed;
      items.put(item.itemId(), new Projected(next, linkExpiresAt));
      events.add(event);
      replies.add(new PendingReply(replyTo, ack));
    }

    void deferReply(ActorRef<ItemAck> replyTo, ItemAck ack) {
      replies.add(new PendingReply(replyTo, ack));
    }

    /** Empties the batch; leaves {@link #flushQueued}, which tracks a message, not the batch. */
    void clear() {
      events.clear();
      replies.clear();
      items.clear();
      closed = 0;
      anyFailed = false;
    }
  }

  private void submitOpenItems(Job job) {
    if (job.finalStatus() != null) {
      return;
    }
    List<DistributionWorkPool.Task> tasks = new ArrayList<>();
    for (Item item : job.items().values()) {
      if (item.state().open()) {
        DistributionFile file = job.spec().files().get(item.fileIndex());
        Recipient recipient = job.spec().recipient(item.recipientId());
        tasks.add(new DistributionWorkPool.Task(jobId, item.itemId(), item.state() == ItemState.PENDING
            ? DistributionWorkPool.Stage.RENDER : DistributionWorkPool.Stage.NOTIFY,
            file, recipient, job.spec().options(), job.createdAt(), item.linkExpiresAt()));
      }
    }
    int accepted = pool.submit(jobId, tasks);
    if (accepted > 0) {
      log.info("{} open items handed to the work pool ({} already there)", accepted, tasks.size() - accepted);
    }
  }

  // --- event handler ---------------------------------------------------------------------------

  @Override
  public EventHandler<State, Event> eventHandler() {
    var builder = newEventHandlerBuilder();
    builder.forStateType(Empty.class).onEvent(JobCreated.class, (s, e) -> created(e));
    builder.forStateType(Job.class)
        .onEvent(ItemRendered.class, (job, e) -> {
          Item i = job.items().get(e.itemId());
          ItemState next = job.spec().options().notifies() ? ItemState.NOTIFYING : ItemState.COMPLETED;
          job.put(new Item(i.itemId(), i.fileIndex(), i.recipientId(), next, e.attempts(), null, null,
              e.copyDocumentId(), e.linkTokenHash(), e.linkExpiresAt(), i.downloads(), e.at()));
          return progressed(job);
        })
        .onEvent(ItemNotified.class, (job, e) -> {
          Item i = job.items().get(e.itemId());
          job.put(new Item(i.itemId(), i.fileIndex(), i.recipientId(), ItemState.COMPLETED, i.attempts() + e.attempts(),
              null, null, i.copyDocumentId(), i.linkTokenHash(), i.linkExpiresAt(), i.downloads(), e.at()));
          return progressed(job);
        })
        .onEvent(ItemFailed.class, (job, e) -> {
          Item i = job.items().get(e.itemId());
          job.put(new Item(i.itemId(), i.fileIndex(), i.recipientId(), ItemState.FAILED, i.attempts() + e.attempts(),
              e.step(), e.reason(), i.copyDocumentId(), i.linkTokenHash(), i.linkExpiresAt(), i.downloads(), e.at()));
          return progressed(job);
        })
        .onEvent(JobCancelled.class, (job, e) -> {
          for (Item i : new ArrayList<>(job.items().values())) {
            if (i.state().open()) {
              job.put(new Item(i.itemId(), i.fileIndex(), i.recipientId(), ItemState.CANCELLED, i.attempts(),
                  null, null, i.copyDocumentId(), i.linkTokenHash(), i.linkExpiresAt(), i.downloads(), e.at()));
            }
          }
          return new Job(job.jobId(), job.spec(), job.createdAt(), job.items(), job.counts(), job.progressed(),
              e.at(), job.finalStatus(), job.finishedAt(), job.revokedRecipients(), job.allRevoked());
        })
        .onEvent(JobFinished.class, (job, e) -> new Job(job.jobId(), job.spec(), job.createdAt(), job.items(),
            job.counts(), true, job.cancelledAt(), e.status(), e.at(), job.revokedRecipients(), job.allRevoked()))
        .onEvent(LinksRevoked.class, (job, e) -> {
          if (e.recipientId() == null) {
            return new Job(job.jobId(), job.spec(), job.createdAt(), job.items(), job.counts(), job.progressed(),
                job.cancelledAt(), job.finalStatus(), job.finishedAt(), job.revokedRecipients(), true);
          }
          job.revokedRecipients().add(e.recipientId());
          return job;
        })
        .onEvent(LinkDownloaded.class, (job, e) -> {
          Item i = job.items().get(e.itemId());
          job.put(new Item(i.itemId(), i.fileIndex(), i.recipientId(), i.state(), i.attempts(), i.failedStep(),
              i.lastError(), i.copyDocumentId(), i.linkTokenHash(), i.linkExpiresAt(), i.downloads() + 1, i.updatedAt()));
          return job;
        });
    return builder.build();
  }

  private static Job created(JobCreated e) {
    Job job = new Job(e.jobId(), e.spec(), e.at(), new LinkedHashMap<>(), new EnumMap<>(ItemState.class), false,
        null, null, null, new HashSet<>(), false);
    for (DistributionSpec.ItemRef ref : e.spec().items()) {
      job.put(new Item(ref.itemId(), ref.fileIndex(), ref.recipientId(), ItemState.PENDING, 0, null, null, null,
          null, null, 0, e.at()));
    }
    return job;
  }

  private static Job progressed(Job job) {
    return job.progressed() ? job : new Job(job.jobId(), job.spec(), job.createdAt(), job.items(), job.counts(), true,
        job.cancelledAt(), job.finalStatus(), job.finishedAt(), job.revokedRecipients(), job.allRevoked());
  }

  // --- reads -----------------------------------------------------------------------------------

  static Summary summary(Job job) {
    Map<String, Integer> counts = new TreeMap<>();
    for (ItemState s : ItemState.values()) {
      counts.put(s.wire(), job.counts().getOrDefault(s, 0));
    }
    List<ItemView> failures = new ArrayList<>();
    for (Item item : job.items().values()) {
      if (item.state() == ItemState.FAILED && failures.size() < MAX_FAILURES_IN_SUMMARY) {
        failures.add(view(job, item));
      }
    }
    return new Summary(job.jobId(), job.status(), job.createdAt(), job.finishedAt(), job.items().size(), counts,
        job.spec().files().size(), job.spec().recipients().size(), job.spec().options().passwordProtect(),
        job.spec().options().emailNotification(), job.spec().options().pushNotification(),
        job.spec().options().priorityLevel().wire(), failures);
  }

  static ItemView view(Job job, Item item) {
    DistributionFile file = job.spec().files().get(item.fileIndex());
    Recipient r = job.spec().recipient(item.recipientId());
    return new ItemView(item.itemId(), file.documentId(), file.name(), r.id(), r.name(), r.email(),
        item.state().wire(), item.attempts(), item.failedStep(), item.lastError(), item.copyDocumentId(),
        item.linkExpiresAt(), item.copyDocumentId() != null && job.linkRevoked(item.recipientId()), item.downloads(),
        item.updatedAt());
  }

  // --- lifecycle signals, retention, tags ------------------------------------------------------

  @Override
  public SignalHandler<State> signalHandler() {
    return newSignalHandlerBuilder()
        .onSignal(RecoveryCompleted.instance(), state -> {
          // After a restart (failed write) this instance's batch may hold results that were
          // never journaled, and a queued FlushResults may have been dropped with the stash: start
          // clean. Their workers' asks time out and they report again.
          batch.clear();
          batch.flushQueued = false;
          if (state instanceof Job job) {
            submitOpenItems(job);
          }
        })
        .build();
  }

  @Override
  public RetentionCriteria retentionCriteria() {
    // No snapshots: the state is mutable (see class doc) and replay is about two events per item.
    return RetentionCriteria.disabled();
  }

  @Override
  public Set<String> tagsFor(Event event) {
    return event instanceof JobCreated || event instanceof JobFinished ? Set.of(LIFECYCLE_TAG) : Set.of();
  }
}
