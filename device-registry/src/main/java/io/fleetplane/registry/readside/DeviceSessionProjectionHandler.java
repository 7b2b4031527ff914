package io.fleetplane.registry.readside;

import akka.persistence.query.Sequence;
import akka.persistence.typed.PersistenceId;
import akka.projection.eventsourced.EventEnvelope;
import akka.projection.jdbc.javadsl.JdbcHandler;
import io.fleetplane.config.metrics.Metrics;
import io.fleetplane.registry.DeviceSession;
import java.util.Map;
import java.util.UUID;

/**
 * Applies one journaled {@link DeviceSession} event to the read-side tables, inside the
 * transaction in which Akka Projection then stores the offset: a crash either keeps both or
 * neither, so every event is applied exactly once.
 */
final class DeviceSessionProjectionHandler
    extends JdbcHandler<EventEnvelope<DeviceSession.Event>, PooledJdbcSession> {

  private final DeviceReadSideRepository repository;

  DeviceSessionProjectionHandler(DeviceReadSideRepository repository) {
    this.repository = repository;
  }

  @Override
  public void process(PooledJdbcSession session, EventEnvelope<DeviceSession.Event> envelope) throws Exception {
    if (!(envelope.event() instanceof DeviceSession.MessageApplied applied)) {
      return; // no other event type yet; a new one must be projected deliberately, not by accident
    }
    UUID sessionId = UUID.fromString(PersistenceId.extractEntityId(envelope.persistenceId()));
    // The JDBC read journal's offsets are Sequence(ordering).
    long ordering = ((Sequence) envelope.offset()).value();
    boolean changed = session.withConnection(c ->
        repository.apply(c, sessionId, envelope.sequenceNr(), ordering, applied));
    Metrics.increment(DeviceReadSide.METRIC_EVENTS, Map.of("result", changed ? "applied" : "duplicate"));
  }
}
