package io.fleetplane.persistence;

import akka.actor.typed.Behavior;
import akka.actor.typed.BehaviorInterceptor;
import akka.actor.typed.TypedActorContext;
import akka.actor.typed.javadsl.Behaviors;
import akka.persistence.JournalProtocol;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Drops the journal's remaining per-event failure replies of a write that already failed, before
 * they reach an event-sourced entity restarted by {@code onPersistFailure(restartWithBackoff)}.
 *
 * <p>Why: the journal answers a failed write of N events with one {@code WriteMessageFailure}
 * per event. The first one makes the entity throw and restart with backoff; the other N-1 arrive
 * during the backoff or the replay, are stashed (by the restart supervisor, then by the new
 * incarnation while it recovers) and are unstashed after recovery. Akka 2.8's running entity
 * ignores a journal reply that is not for its own writer, but does not go on unstashing after
 * it: each such reply stalls the stash until a new command arrives from outside. Commands that
 * arrived during the backoff (a read, a worker's report) then sit behind it unanswered for as
 * long as nobody else writes to the entity (seen as DistributionJobBatchingTest timing out on a
 * summary after a failed multi-event write).
 *
 * <p>The entity restarts on the first failure reply of a write, so every later one carrying the
 * same writer instance id is stale by construction; a new incarnation writes under a new id, so
 * its own failures pass. Wrap the behavior outside the entity's supervision (it must keep its
 * memory across the entity's restarts).
 */
public final class StaleWriteFailures {

  private static final Logger log = LoggerFactory.getLogger(StaleWriteFailures.class);

  private StaleWriteFailures() {}

  /** {@code entity} (an event-sourced behavior or a setup returning one) with stale failure replies filtered. */
  @SuppressWarnings("unchecked")
  public static <C> Behavior<C> filtered(Behavior<C> entity) {
    Behavior<Object> inner = (Behavior<Object>) (Behavior<?>) entity;
    return (Behavior<C>) (Behavior<?>) Behaviors.intercept(Filter::new, inner);
  }

  private static final class Filter extends BehaviorInterceptor<Object, Object> {
    /** Writer instance id of the last write a failure reply was delivered for; -1 before any. */
    private int failedInstanceId = -1;

    Filter() {
      super(Object.class);
    }

    @Override
    public Behavior<Object> aroundReceive(TypedActorContext<Object> ctx, Object msg, ReceiveTarget<Object> target) {
      if (msg instanceof JournalProtocol.WriteMessageFailure failure) {
        if (failure.actorInstanceId() == failedInstanceId) {
          log.debug("Dropped the failure reply for sequence number {} of {}: its write already failed and the entity "
              + "restarts", failure.message().sequenceNr(), failure.message().persistenceId());
          return Behaviors.same();
        }
        failedInstanceId = failure.actorInstanceId();
      }
      return target.apply(ctx, msg);
    }
  }
}
