package io.fleetplane.registry;

import akka.actor.typed.ActorRef;
import akka.actor.typed.ActorSystem;
import akka.actor.typed.Behavior;
import akka.actor.typed.SupervisorStrategy;
import akka.cluster.sharding.typed.javadsl.ClusterSharding;
import akka.cluster.sharding.typed.javadsl.Entity;
import akka.cluster.sharding.typed.javadsl.EntityTypeKey;
import akka.persistence.typed.PersistenceId;
import akka.persistence.typed.javadsl.CommandHandlerWithReply;
import akka.persistence.typed.javadsl.EventHandler;
import akka.persistence.typed.javadsl.EventSourcedBehaviorWithEnforcedReplies;
import akka.persistence.typed.javadsl.ReplyEffect;
import akka.persistence.typed.javadsl.RetentionCriteria;
import com.fasterxml.jackson.databind.JsonNode;
import io.fleetplane.config.CborSerializable;
import io.fleetplane.config.ids.DeviceTopic.Channel;
import io.fleetplane.config.metrics.Metrics;
import io.fleetplane.registry.domain.DeviceMessage;
import io.fleetplane.registry.domain.Lineage;
import io.fleetplane.registry.domain.Liveness;
import io.fleetplane.registry.domain.SessionOrdering;
import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * One device session (one {@code device_session_id}): its RAE, attributes with the time each was
 * last reported, test state and connection, rebuilt from its journal.
 *
 * <p><b>Ordering.</b> The ingest stream feeds a session the records of one Kafka partition in
 * order, one at a time. Each message is still checked against the last applied position
 * ({@link SessionOrdering}): a redelivered or older message is acknowledged but not applied, so
 * replaying the topic changes nothing.
 *
 * <p><b>Lifecycle.</b> Created by the first message for its id; sharded by id; snapshotted every
 * {@value #SNAPSHOT_EVERY} events with older events kept only as long as two snapshots need them.
 */
public final class DeviceSession
    extends EventSourcedBehaviorWithEnforcedReplies<DeviceSession.Command, DeviceSession.Event, DeviceSession.State> {

  // --- commands --------------------------------------------------------------------------------

  /** Messages a session accepts. */
  public sealed interface Command extends CborSerializable {}

  /**
   * Applies a device message. Replies {@link Applied} once the event is persisted, or
   * {@link Ignored} (nothing persisted) when the message is stale or names another RAE.
   */
  public record ApplyMessage(
      String raeSerial, DeviceMessage message, Lineage lineage, ActorRef<ApplyReply> replyTo)
      implements Command {}

  /** Reads the session; replies {@link SessionFound} or {@link SessionNotFound}. */
  public record GetSession(ActorRef<GetReply> replyTo) implements Command {}

  // --- events ----------------------------------------------------------------------------------

  /** What a session journals. */
  public sealed interface Event extends CborSerializable {}

  /** A device message was applied (merged, replaced or a connection change, by its channel). */
  public record MessageApplied(
      String raeSerial, DeviceMessage message, Lineage lineage, Instant appliedAt) implements Event {}

  // --- state -----------------------------------------------------------------------------------

  /** A session before its first message, then active. */
  public sealed interface State extends CborSerializable {}

  /** No message applied yet: the session does not exist for readers. */
  public record Unknown() implements State {}

  /** The state of a session that has heard from its device. */
  public record Active(
      String raeSerial,
      Map<String, ReportedAttribute> attributes,
      Optional<String> testState,
      Liveness.Connection connection,
      Instant connectionAsOf,
      Instant lastHeardAt,
      SessionOrdering.Position lastPosition,
      Instant lastUpdateAt,
      long appliedMessages,
      long connectedSinceDeviceMillis) implements State {

    /** Liveness as a reader should see it now (silence turns a connected device UNKNOWN). */
    public Liveness.Status liveness(Instant now, Duration unknownAfter) {
      return Liveness.effective(connection, connectionAsOf, lastHeardAt, now, unknownAfter);
    }
  }

  /** One attribute's value and when it was last reported (device clock and receive time). */
  public record ReportedAttribute(JsonNode value, long reportedAtDeviceMillis, Instant receivedAt)
      implements CborSerializable {}

  // --- replies ---------------------------------------------------------------------------------

  /** Reply to {@link ApplyMessage}. */
  public sealed interface ApplyReply extends CborSerializable {}

  public record Applied(long appliedMessages) implements ApplyReply {}

  /** Not applied; {@code reason} is {@code stale} or {@code rae-mismatch}. */
  public record Ignored(String reason) implements ApplyReply {}

  /** Reply to {@link GetSession}. */
  public sealed interface GetReply extends CborSerializable {}

  public record SessionFound(String deviceSessionId, Active session) implements GetReply {}

  public record SessionNotFound(String deviceSessionId) implements GetReply {}

  // --- wiring ----------------------------------------------------------------------------------

  /** Entity type and persistence-id prefix: part of the journal schema, never rename. */
  public static final EntityTypeKey<Command> ENTITY_TYPE_KEY =
      EntityTypeKey.create(Command.class, "DeviceSession");

  public static final String METRIC_STALE_IGNORED = "fleetplane_registry_stale_messages_ignored";
  public static final String METRIC_ACTIVE_SESSIONS = "fleetplane_registry_active_sessions";
  /** Sessions running in this JVM (recovered and not yet passivated). */
  private static final java.util.concurrent.atomic.AtomicLong ACTIVE = new java.util.concurrent.atomic.AtomicLong();
  static final int SNAPSHOT_EVERY = 100;

  public static void init(ActorSystem<?> system) {
    ClusterSharding.get(system).init(Entity.of(ENTITY_TYPE_KEY, ctx -> create(ctx.getEntityId())));
  }

  public static Behavior<Command> create(String deviceSessionId) {
    return new DeviceSession(deviceSessionId);
  }

  private final String deviceSessionId;

  private DeviceSession(String deviceSessionId) {
    super(
        PersistenceId.of(ENTITY_TYPE_KEY.name(), deviceSessionId),
        SupervisorStrategy.restartWithBackoff(Duration.ofMillis(200), Duration.ofSeconds(10), 0.2));
    this.deviceSessionId = deviceSessionId;
  }

  @Override
  public State emptyState() {
    return new Unknown();
  }

  // --- command handlers ------------------------------------------------------------------------

  @Override
  public CommandHandlerWithReply<Command, Event, State> commandHandler() {
    var builder = newCommandHandlerWithReplyBuilder();
    builder.forStateType(Unknown.class)
        .onCommand(ApplyMessage.class, this::applyFirst)
        .onCommand(GetSession.class, (state, get) ->
            Effect().reply(get.replyTo(), new SessionNotFound(deviceSessionId)));
    builder.forStateType(Active.class)
        .onCommand(ApplyMessage.class, this::applyNext)
        .onCommand(GetSession.class, (state, get) ->
            Effect().reply(get.replyTo(), new SessionFound(deviceSessionId, state)));
    return builder.build();
  }

  private ReplyEffect<Event, State> applyFirst(Unknown state, ApplyMessage apply) {
    return persist(apply);
  }

  private ReplyEffect<Event, State> applyNext(Active state, ApplyMessage apply) {
    if (!state.raeSerial().equals(apply.raeSerial())) {
      Metrics.increment(METRIC_STALE_IGNORED, Map.of("reason", "rae-mismatch"));
      return Effect().reply(apply.replyTo(), new Ignored("rae-mismatch"));
    }
    if (SessionOrdering.isStale(state.lastPosition(), apply.message(), apply.lineage())
        && !SessionOrdering.isLateWill(state.lastPosition(), state.connectedSinceDeviceMillis(),
            apply.message(), apply.lineage())) {
      Metrics.increment(METRIC_STALE_IGNORED, Map.of("reason", "stale"));
      return Effect().reply(apply.replyTo(), new Ignored("stale"));
    }
    return persist(apply);
  }

  private ReplyEffect<Event, State> persist(ApplyMessage apply) {
    return Effect()
        .persist(new MessageApplied(apply.raeSerial(), apply.message(), apply.lineage(), Instant.now()))
        .thenReply(apply.replyTo(), s -> new Applied(((Active) s).appliedMessages()));
  }

  // --- event handler ---------------------------------------------------------------------------

  @Override
  public EventHandler<State, Event> eventHandler() {
    var builder = newEventHandlerBuilder();
    builder.forAnyState().onEvent(MessageApplied.class, DeviceSession::apply);
    return builder.build();
  }

  /** The event handler's pure state transition (public for tools that size the state). */
  public static Active apply(State state, MessageApplied event) {
    DeviceMessage message = event.message();
    Active previous = state instanceof Active active ? active : null;
    Instant heardAt = Instant.ofEpochMilli(event.lineage().receivedAtMillis());
    Map<String, ReportedAttribute> attributes = new LinkedHashMap<>();
    Optional<String> testState = previous == null ? Optional.empty() : previous.testState();
    // Any update or checkpoint means the device is talking to us; only a connection message (or
    // its last will) can say it went away.
    Liveness.Connection connection = Liveness.Connection.CONNECTED;
    switch (message.channel()) {
      case UPDATE -> {
        if (previous != null) {
          attributes.putAll(previous.attributes());
        }
        putAll(attributes, message, event.appliedAt());
        testState = message.testState().or(() -> previous == null ? Optional.empty() : previous.testState());
      }
      case CHECKPOINT -> {
        putAll(attributes, message, event.appliedAt());
        testState = message.testState();
      }
      case CONNECTION -> {
        if (previous != null) {
          attributes.putAll(previous.attributes());
        }
        connection = message.connected().orElse(false)
            ? Liveness.Connection.CONNECTED : Liveness.Connection.DISCONNECTED;
      }
    }
    Instant connectionAsOf = previous != null && previous.connection() == connection
        ? previous.connectionAsOf() : heardAt;
    long connectedSince = previous == null ? 0 : previous.connectedSinceDeviceMillis();
    if (message.channel() == Channel.CONNECTION && message.connected().orElse(false)) {
      connectedSince = message.deviceTimestampMillis();
    }
    // A late will (SessionOrdering.isLateWill) changes the connection only: the ordering position
    // keeps the newer ts/seq already applied (so older updates stay stale) and takes the will's
    // Kafka position (so a redelivery of the will itself is recognised).
    SessionOrdering.Position position =
        new SessionOrdering.Position(message.deviceTimestampMillis(), message.sequence(), event.lineage());
    if (previous != null && SessionOrdering.isStale(previous.lastPosition(), message, event.lineage())) {
      position = new SessionOrdering.Position(previous.lastPosition().deviceTimestampMillis(),
          previous.lastPosition().sequence(), event.lineage());
    }
    return new Active(
        event.raeSerial(),
        Map.copyOf(attributes),
        testState,
        connection,
        connectionAsOf,
        heardAt,
        position,
        event.appliedAt(),
        (previous == null ? 0 : previous.appliedMessages()) + 1,
        connectedSince);
  }

  private static void putAll(Map<String, ReportedAttribute> into, DeviceMessage message, Instant at) {
    message.attributes().forEach((name, value) ->
        into.put(name, new ReportedAttribute(value, message.deviceTimestampMillis(), at)));
  }

  // --- lifecycle signals -----------------------------------------------------------------------

  @Override
  public akka.persistence.typed.javadsl.SignalHandler<State> signalHandler() {
    return newSignalHandlerBuilder()
        .onSignal(akka.persistence.typed.RecoveryCompleted.instance(), state ->
            Metrics.gauge(METRIC_ACTIVE_SESSIONS, Map.of(), ACTIVE.incrementAndGet()))
        .onSignal(akka.actor.typed.PostStop.instance(), state ->
            Metrics.gauge(METRIC_ACTIVE_SESSIONS, Map.of(), ACTIVE.decrementAndGet()))
        .build();
  }

  // --- retention and tags ----------------------------------------------------------------------

  @Override
  public RetentionCriteria retentionCriteria() {
    return RetentionCriteria.snapshotEvery(SNAPSHOT_EVERY, 2);
  }

  @Override
  public Set<String> tagsFor(Event event) {
    // One tag for now: the read-side projection consumes all device sessions.
    return Set.of(ENTITY_TYPE_KEY.name());
  }
}
