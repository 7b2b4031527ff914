package io.fleetplane.persistence;

import akka.persistence.AtomicWrite;
import akka.persistence.jdbc.config.EventJournalTableConfiguration;
import akka.persistence.jdbc.journal.JdbcAsyncWriteJournal;
import akka.stream.BoundedSourceQueue;
import akka.stream.QueueOfferResult;
import akka.stream.javadsl.Sink;
import akka.stream.javadsl.Source;
import com.typesafe.config.Config;
import io.fleetplane.config.metrics.Metrics;
import java.sql.Array;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import scala.concurrent.Future;
import scala.concurrent.Promise;
import scala.jdk.javaapi.FutureConverters;
import scala.runtime.BoxedUnit;
import scala.util.Try;

/**
 * Akka Persistence JDBC's journal, with the one read every recovery makes batched across
 * entities: the highest sequence number of the recovering persistence id.
 *
 * <p>Why: an entity's recovery asks the journal for its highest sequence number before anything
 * else (and replays only when there is something to replay). The stock journal runs one
 * single-row query per recovery; a foreach of 100,000 iterations starts 100,000 fresh child
 * entities, so that is 100,000 round trips whose per-statement cost (on a 2-core host, the
 * database's CPU) bounded the iteration rate. Here the requests that arrive while a query is in
 * flight join the next query ({@code persistence_id = ANY(...)}, one index probe per id), like
 * the stock journal's own write batching: no timer, no added latency when the journal is idle.
 *
 * <p>Same answers as the stock journal: {@code max(sequence_number)} over the id's rows, deleted
 * or not, 0 when it has none. Ordering: a read for an id whose write is still in flight (an
 * entity restarted after a failed or slow persist) must see that write, so such reads take the
 * stock path, which waits for it. Everything else (writes, replays, deletes) is unchanged.
 *
 * <p>Configured as {@code jdbc-journal.class} (fleetplane-overrides.conf); settings under
 * {@code fleetplane.persistence.recovery-reads} (reference.conf).
 */
public class BatchedRecoveryJdbcJournal extends JdbcAsyncWriteJournal {

  /**
   * @param batchSize most persistence ids in one query
   * @param parallelism queries in flight at once (each holds one pooled connection)
   * @param bufferSize reads queued before further reads fall back to one query each
   */
  public record Settings(int batchSize, int parallelism, int bufferSize) {
    public Settings {
      if (batchSize < 1 || parallelism < 1 || bufferSize < 1) {
        throw new IllegalArgumentException("fleetplane.persistence.recovery-reads: batch-size, parallelism and "
            + "buffer-size must be >= 1, got " + batchSize + ", " + parallelism + ", " + bufferSize);
      }
    }

    public static Settings fromConfig(Config config) {
      Config c = config.getConfig("fleetplane.persistence.recovery-reads");
      return new Settings(c.getInt("batch-size"), c.getInt("parallelism"), c.getInt("buffer-size"));
    }
  }

  /** Batched queries run, and the reads they answered (counters). */
  public static final String QUERIES = "fleetplane_persistence_recovery_read_queries";
  public static final String READS = "fleetplane_persistence_recovery_reads_batched";
  /** Reads that took the stock single-row query because the queue was full (counter, tag {@code why}). */
  public static final String UNBATCHED = "fleetplane_persistence_recovery_reads_unbatched";

  private record Read(String persistenceId, Promise<Object> result) {}

  /** Writes not yet completed, by persistence id (mirrors the stock journal's private map). */
  private final Map<String, Future<?>> writesInFlight = new ConcurrentHashMap<>();
  private final String sql;
  private final BoundedSourceQueue<Read> reads;

  public BatchedRecoveryJdbcJournal(Config config) {
    super(config);
    Settings settings = Settings.fromConfig(context().system().settings().config());
    this.sql = highestSequenceNrsSql(journalConfig().eventJournalTableConfiguration());
    this.reads = Source.<Read>queue(settings.bufferSize())
        .batch(settings.batchSize(), first -> {
          List<Read> batch = new ArrayList<>();
          batch.add(first);
          return batch;
        }, (batch, next) -> {
          batch.add(next);
          return batch;
        })
        .mapAsync(settings.parallelism(), this::readBatch)
        .to(Sink.ignore())
        .run(mat());
  }

  /**
   * One row per requested id, in the order given, with its highest sequence number or null. The
   * scalar subquery per id is the stock query's plan (a backward probe of the primary key).
   */
  static String highestSequenceNrsSql(EventJournalTableConfiguration table) {
    String name = JournalSql.table(table.schemaName(), table.tableName());
    String pid = JournalSql.quote(table.columnNames().persistenceId());
    String seqNr = JournalSql.quote(table.columnNames().sequenceNumber());
    return "SELECT ids.pid, (SELECT MAX(j." + seqNr + ") FROM " + name + " j WHERE j." + pid + " = ids.pid)"
        + " FROM unnest(?::varchar[]) AS ids(pid)";
  }

  @Override
  public Future<scala.collection.immutable.Seq<Try<BoxedUnit>>> asyncWriteMessages(
      scala.collection.immutable.Seq<AtomicWrite> messages) {
    Future<scala.collection.immutable.Seq<Try<BoxedUnit>>> write = super.asyncWriteMessages(messages);
    String persistenceId = messages.head().persistenceId();
    writesInFlight.put(persistenceId, write);
    write.onComplete(done -> writesInFlight.remove(persistenceId, write), ec());
    return write;
  }

  @Override
  public Future<Object> asyncReadHighestSequenceNr(String persistenceId, long fromSequenceNr) {
    if (writesInFlight.containsKey(persistenceId)) {
      return super.asyncReadHighestSequenceNr(persistenceId, fromSequenceNr);
    }
    Promise<Object> result = scala.concurrent.Promise$.MODULE$.<Object>apply();
    QueueOfferResult offered = reads.offer(new Read(persistenceId, result));
    if (offered != QueueOfferResult.enqueued()) {
      // Queue full (or the journal stopping): the stock single-row query still answers.
      Metrics.increment(UNBATCHED, Map.of("why", "queue-full"));
      return super.asyncReadHighestSequenceNr(persistenceId, fromSequenceNr);
    }
    return result.future();
  }

  /** Completes every read of the batch; never fails the stream (a failed query fails its reads). */
  private CompletionStage<Integer> readBatch(List<Read> batch) {
    LinkedHashSet<String> ids = new LinkedHashSet<>();
    batch.forEach(r -> ids.add(r.persistenceId()));
    String[] idArray = ids.toArray(String[]::new);
    // reads / queries is the batching achieved (1 would be the stock journal's one query per read).
    Metrics.increment(QUERIES);
    Metrics.increment(READS, batch.size(), Map.of());
    CompletionStage<Map<String, Long>> query;
    try {
      query = FutureConverters.asJava(
          run(slick.jdbc.SimpleJdbcAction.apply(ctx -> highestSequenceNrs(ctx.connection(), idArray))));
    } catch (RuntimeException e) {
      // Slick refused the action (database closing): fail these reads, keep the stream for the next ones.
      query = CompletableFuture.failedFuture(e);
    }
    CompletableFuture<Integer> done = new CompletableFuture<>();
    query.whenComplete((highest, error) -> {
      for (Read r : batch) {
        if (error != null) {
          r.result().tryFailure(error);
        } else {
          r.result().trySuccess(highest.getOrDefault(r.persistenceId(), 0L));
        }
      }
      done.complete(batch.size());
    });
    return done;
  }

  /** Slick's run takes any effect (its effect parameter is contravariant); Java's generics cannot say so. */
  @SuppressWarnings({"unchecked", "rawtypes"})
  private <R> Future<R> run(slick.jdbc.SimpleJdbcAction<R> action) {
    return db().run((slick.dbio.DBIOAction) action);
  }

  private Map<String, Long> highestSequenceNrs(Connection connection, String[] ids) {
    Map<String, Long> out = new HashMap<>(ids.length * 2);
    try (PreparedStatement statement = connection.prepareStatement(sql)) {
      Array array = connection.createArrayOf("varchar", ids);
      statement.setArray(1, array);
      try (ResultSet rows = statement.executeQuery()) {
        while (rows.next()) {
          long highest = rows.getLong(2);
          if (!rows.wasNull()) {
            out.put(rows.getString(1), highest);
          }
        }
      }
      array.free();
      return out;
    } catch (SQLException e) {
      throw new IllegalStateException("highest sequence numbers of " + ids.length + " persistence ids: "
          + e.getMessage(), e);
    }
  }

  @Override
  public void postStop() {
    try {
      reads.complete();
    } catch (IllegalStateException alreadyDone) {
      // The system's materializer shut the queue down first (actor system terminating): nothing to stop.
    }
    super.postStop();
  }
}
