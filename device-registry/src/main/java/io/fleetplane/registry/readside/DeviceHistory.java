package io.fleetplane.registry.readside;

import akka.actor.typed.ActorSystem;
import akka.persistence.jdbc.query.javadsl.JdbcReadJournal;
import akka.persistence.query.PersistenceQuery;
import akka.persistence.typed.PersistenceId;
import akka.stream.javadsl.Sink;
import io.fleetplane.config.ErrorCode;
import io.fleetplane.config.ids.DeviceSessionId;
import io.fleetplane.registry.DeviceSession;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletionStage;

/**
 * A session's events with their lineage, read from the journal ({@code currentEventsByPersistenceId})
 * rather than from a table the projection would fill.
 *
 * <p>Why the journal: it already holds every event, in order, with its lineage, so a copy would
 * double the largest table for no new information; it is as fresh as a single read of the session
 * (no projection lag); and the per-session sequence number is a natural, stable cursor. The cost
 * is deserializing the page's events per request, which for pages of at most 500 is small. If the
 * journal ever deletes events after snapshots, history would need its own table.
 */
public final class DeviceHistory {

  private final ActorSystem<?> system;
  private final JdbcReadJournal journal;

  public DeviceHistory(ActorSystem<?> system) {
    this.system = system;
    this.journal = PersistenceQuery.get(system)
        .getReadJournalFor(JdbcReadJournal.class, JdbcReadJournal.Identifier());
  }

  /** An opaque cursor for "after this sequence number". */
  public static String encodeCursor(long after) {
    return Base64.getUrlEncoder().withoutPadding()
        .encodeToString(("h1:" + after).getBytes(StandardCharsets.US_ASCII));
  }

  /** The sequence number a cursor continues after; a precise 400 when it is not one of ours. */
  public static long decodeCursor(String cursor) {
    try {
      String text = new String(Base64.getUrlDecoder().decode(cursor), StandardCharsets.US_ASCII);
      if (text.startsWith("h1:")) {
        long after = Long.parseLong(text.substring(3));
        if (after > 0) {
          return after;
        }
      }
    } catch (IllegalArgumentException e) {
      // falls through: NumberFormatException and bad base64 are both IllegalArgumentExceptions
    }
    throw new InvalidQueryException(ErrorCode.REQUEST_INVALID, DeviceCursor.FIELD,
        "The cursor is not one this API issued for a history. Use the 'next' link of a previous page as it is, "
            + "or start again without a cursor.");
  }

  /**
   * Up to {@code limit} events after sequence number {@code after} (0 for the first page).
   * Reads one event more than asked, to know whether another page exists.
   */
  public CompletionStage<HistoryPage> page(DeviceSessionId id, long after, int limit) {
    String persistenceId = PersistenceId.of(DeviceSession.ENTITY_TYPE_KEY.name(), id.value()).id();
    return journal.currentEventsByPersistenceId(persistenceId, after + 1, Long.MAX_VALUE)
        .take(limit + 1L)
        .runWith(Sink.seq(), system)
        .thenApply(envelopes -> {
          List<HistoryPage.Entry> entries = new ArrayList<>();
          for (var envelope : envelopes) {
            if (envelope.event() instanceof DeviceSession.MessageApplied applied) {
              entries.add(new HistoryPage.Entry(envelope.sequenceNr(), applied));
            }
          }
          if (envelopes.size() <= limit) {
            return new HistoryPage(List.copyOf(entries), Optional.empty());
          }
          List<HistoryPage.Entry> page = List.copyOf(entries.subList(0, Math.min(limit, entries.size())));
          return new HistoryPage(page, Optional.of(envelopes.get(limit - 1).sequenceNr()));
        });
  }
}
