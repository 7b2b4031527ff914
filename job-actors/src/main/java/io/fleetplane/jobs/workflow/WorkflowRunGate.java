package io.fleetplane.jobs.workflow;

import akka.actor.typed.ActorRef;
import akka.actor.typed.ActorSystem;
import akka.cluster.sharding.typed.javadsl.ClusterSharding;
import akka.cluster.sharding.typed.javadsl.Entity;
import akka.cluster.sharding.typed.javadsl.EntityTypeKey;
import akka.persistence.typed.PersistenceId;
import akka.persistence.typed.javadsl.CommandHandler;
import akka.persistence.typed.javadsl.Effect;
import akka.persistence.typed.javadsl.EventHandler;
import akka.persistence.typed.javadsl.EventSourcedBehavior;
import io.fleetplane.config.CborSerializable;
import io.fleetplane.jobs.workflow.domain.RunStrategy;
import java.util.ArrayList;
import java.util.List;

/**
 * The per-workflow concurrency limit ({@code maxRunningInstances} in a definition): one
 * event-sourced entity per workflow id holds the instances running and those queued, in arrival
 * order. An instance over the limit starts PAUSED and is resumed when a running one finishes and
 * releases its slot (finishing instances release at least once; releases are idempotent).
 * Strategies ({@link RunStrategy}): parallel up to N and sequential (N = 1) queue first in first
 * out; first-only rejects a start while any instance runs or waits; last-only admits one at a
 * time and, on each new start, cancels the instances queued before it (they never started), so
 * only the latest queued start runs after the one running now. A cancelled queued instance leaves
 * the queue here at once and finishes CANCELLED with reason "superseded by a later start".
 *
 * <p>The gate's Resume and Cancel can overtake the queued instance's own Start (the engine asks
 * the gate first, then starts the instance): an instance that does not exist yet drops them. So a
 * queued instance {@link Locate}s itself here right after it started PAUSED and acts on the
 * answer: admitted meanwhile, it resumes; no longer held (superseded), it cancels itself.
 */
public final class WorkflowRunGate
    extends EventSourcedBehavior<WorkflowRunGate.Command, WorkflowRunGate.Event, WorkflowRunGate.State> {

  public sealed interface Command extends CborSerializable {}

  /**
   * Asks for a slot; replies {@link Admitted}, {@link Queued} or (first-only) {@link Rejected}.
   * Idempotent per instance: an instance already running or queued gets the same answer again.
   */
  public record Admit(String instanceId, int limit, RunStrategy strategy, ActorRef<AdmitReply> replyTo)
      implements Command {}

  /** The instance finished (or was cancelled while queued): frees its slot or its place. */
  public record Release(String instanceId) implements Command {}

  /**
   * Where does the gate hold this instance? Replies {@link Admitted}, {@link Queued} or
   * {@link NotHeld}, changing nothing. A queued instance asks once it has started: the gate's
   * Resume or last-only Cancel may have reached it before its Start did, and was then lost.
   */
  public record Locate(String instanceId, ActorRef<AdmitReply> replyTo) implements Command {}

  public sealed interface AdmitReply extends CborSerializable {}

  public record Admitted(String instanceId) implements AdmitReply {}

  public record Queued(String instanceId, int position) implements AdmitReply {}

  /** First-only: {@code blocking} are the instances running or waiting now. */
  public record Rejected(String instanceId, List<String> blocking) implements AdmitReply {}

  /** {@link Locate}: neither running nor queued (released: finished, or superseded by last-only). */
  public record NotHeld(String instanceId) implements AdmitReply {}

  public sealed interface Event extends CborSerializable {}

  public record InstanceAdmitted(String instanceId, int limit) implements Event {}

  public record InstanceQueued(String instanceId, int limit) implements Event {}

  public record InstanceReleased(String instanceId) implements Event {}

  public record State(List<String> running, List<String> queued, int limit) implements CborSerializable {}

  public static final EntityTypeKey<Command> ENTITY_TYPE_KEY = EntityTypeKey.create(Command.class, "WorkflowRunGate");

  private final ClusterSharding sharding;
  private final ActorSystem<?> system;

  static void init(ActorSystem<?> system) {
    ClusterSharding.get(system).init(Entity.of(ENTITY_TYPE_KEY,
        ctx -> new WorkflowRunGate(ctx.getEntityId(), system)));
  }

  private WorkflowRunGate(String workflowId, ActorSystem<?> system) {
    super(PersistenceId.of(ENTITY_TYPE_KEY.name(), workflowId));
    this.system = system;
    this.sharding = ClusterSharding.get(system);
  }

  @Override
  public State emptyState() {
    return new State(List.of(), List.of(), 1);
  }

  @Override
  public CommandHandler<Command, Event, State> commandHandler() {
    return newCommandHandlerBuilder().forAnyState()
        .onCommand(Admit.class, this::onAdmit)
        .onCommand(Release.class, this::onRelease)
        .onCommand(Locate.class, this::onLocate)
        .build();
  }

  private Effect<Event, State> onAdmit(State s, Admit a) {
    if (s.running().contains(a.instanceId())) {
      a.replyTo().tell(new Admitted(a.instanceId()));
      return Effect().none();
    }
    if (s.queued().contains(a.instanceId())) {
      a.replyTo().tell(new Queued(a.instanceId(), s.queued().indexOf(a.instanceId()) + 1));
      return Effect().none();
    }
    if (s.running().size() < a.limit() && s.queued().isEmpty()) {
      return Effect().persist(new InstanceAdmitted(a.instanceId(), a.limit()))
          .thenRun(x -> a.replyTo().tell(new Admitted(a.instanceId())));
    }
    if (a.strategy() == RunStrategy.FIRST_ONLY) {
      List<String> blocking = new ArrayList<>(s.running());
      blocking.addAll(s.queued());
      a.replyTo().tell(new Rejected(a.instanceId(), List.copyOf(blocking)));
      return Effect().none();
    }
    if (a.strategy() == RunStrategy.LAST_ONLY && !s.queued().isEmpty()) {
      // Released here first, so they can never be admitted; then told to cancel themselves.
      List<String> superseded = s.queued();
      List<Event> events = new ArrayList<>();
      superseded.forEach(id -> events.add(new InstanceReleased(id)));
      events.add(new InstanceQueued(a.instanceId(), a.limit()));
      return Effect().persist(events).thenRun(x -> {
        superseded.forEach(id -> sharding.entityRefFor(WorkflowInstance.ENTITY_TYPE_KEY, id)
            .tell(new WorkflowInstance.Cancel("superseded by a later start (" + a.instanceId()
                + "): the workflow runs last-only", system.ignoreRef())));
        a.replyTo().tell(new Queued(a.instanceId(), x.queued().size()));
      });
    }
    return Effect().persist(new InstanceQueued(a.instanceId(), a.limit()))
        .thenRun(x -> a.replyTo().tell(new Queued(a.instanceId(), x.queued().size())));
  }

  private Effect<Event, State> onLocate(State s, Locate l) {
    l.replyTo().tell(s.running().contains(l.instanceId()) ? new Admitted(l.instanceId())
        : s.queued().contains(l.instanceId()) ? new Queued(l.instanceId(), s.queued().indexOf(l.instanceId()) + 1)
        : new NotHeld(l.instanceId()));
    return Effect().none();
  }

  private Effect<Event, State> onRelease(State s, Release r) {
    if (!s.running().contains(r.instanceId()) && !s.queued().contains(r.instanceId())) {
      return Effect().none();
    }
    List<Event> events = new ArrayList<>();
    events.add(new InstanceReleased(r.instanceId()));
    State after = apply(s, events.get(0));
    while (after.running().size() < after.limit() && !after.queued().isEmpty()) {
      Event next = new InstanceAdmitted(after.queued().get(0), after.limit());
      events.add(next);
      after = apply(after, next);
    }
    return Effect().persist(events).thenRun(x -> events.stream()
        .filter(e -> e instanceof InstanceAdmitted).map(e -> ((InstanceAdmitted) e).instanceId())
        .forEach(id -> sharding.entityRefFor(WorkflowInstance.ENTITY_TYPE_KEY, id)
            .tell(new WorkflowInstance.Resume(system.ignoreRef()))));
  }

  @Override
  public EventHandler<State, Event> eventHandler() {
    return (s, e) -> apply(s, e);
  }

  private static State apply(State s, Event e) {
    List<String> running = new ArrayList<>(s.running());
    List<String> queued = new ArrayList<>(s.queued());
    int limit = s.limit();
    if (e instanceof InstanceAdmitted a) {
      queued.remove(a.instanceId());
      running.add(a.instanceId());
      limit = a.limit();
    } else if (e instanceof InstanceQueued q) {
      queued.add(q.instanceId());
      limit = q.limit();
    } else if (e instanceof InstanceReleased r) {
      running.remove(r.instanceId());
      queued.remove(r.instanceId());
    }
    return new State(List.copyOf(running), List.copyOf(queued), limit);
  }
}
