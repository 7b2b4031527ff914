package io.fleetplane.registry.readside;

import akka.persistence.query.Sequence;
import akka.persistence.typed.PersistenceId;
import akka.projection.eventsourced.EventEnvelope;
import akka.projection.jdbc.javadsl.JdbcHandler;
import io.fleetplane.config.metrics.Metrics;
import io.fleetplane.persistence.PooledJdbcSession;
import io.fleetplane.registry.DeviceSession;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/**
 * Applies a group of journaled {@link DeviceSession} events, in journal order, to the read-side
 * tables inside the one transaction in which Akka Projection then stores the group's last offset:
 * a crash either keeps the whole group and its offset or neither, so every event is still applied
 * exactly once. Grouping is for the database and the ingest it shares it with: one offset upsert and
 * one commit per group instead of per event (the offset store went from 3.2% to 0.3% of the node's
 * CPU samples during an ingest burst; docs/notes/ingest-tuning.md).
 */
final class DeviceSessionProjectionHandler
    extends JdbcHandler<List<EventEnvelope<DeviceSession.Event>>, PooledJdbcSession> {

  private final DeviceReadSideRepository repository;

  DeviceSessionProjectionHandler(DeviceReadSideRepository repository) {
    this.repository = repository;
  }

  @Override
  public void process(PooledJdbcSession session, List<EventEnvelope<DeviceSession.Event>> envelopes)
      throws Exception {
    List<DeviceReadSideRepository.JournaledEvent> events = new ArrayList<>(envelopes.size());
    for (EventEnvelope<DeviceSession.Event> envelope : envelopes) {
      if (!(envelope.event() instanceof DeviceSession.MessageApplied event)) {
        continue; // no other event type yet; a new one must be projected deliberately, not by accident
      }
      UUID sessionId = UUID.fromString(PersistenceId.extractEntityId(envelope.persistenceId()));
      // The JDBC read journal's offsets are Sequence(ordering).
      long ordering = ((Sequence) envelope.offset()).value();
      events.add(new DeviceReadSideRepository.JournaledEvent(sessionId, envelope.sequenceNr(), ordering, event));
    }
    int applied = session.withConnection(c -> repository.applyGroup(c, events));
    int duplicates = events.size() - applied;
    // Counted after the statements ran; a failed group is rolled back and replayed, and counted then.
    if (applied > 0) {
      Metrics.increment(DeviceReadSide.METRIC_EVENTS, applied, Map.of("result", "applied"));
    }
    if (duplicates > 0) {
      Metrics.increment(DeviceReadSide.METRIC_EVENTS, duplicates, Map.of("result", "duplicate"));
    }
  }
}
