package io.fleetplane.http;

import akka.Done;
import akka.actor.typed.ActorSystem;
import akka.cluster.sharding.typed.ShardedDaemonProcessSettings;
import akka.cluster.sharding.typed.javadsl.ShardedDaemonProcess;
import akka.persistence.jdbc.query.javadsl.JdbcReadJournal;
import akka.persistence.query.Offset;
import akka.projection.Projection;
import akka.projection.ProjectionBehavior;
import akka.projection.ProjectionId;
import akka.projection.eventsourced.EventEnvelope;
import akka.projection.eventsourced.javadsl.EventSourcedProvider;
import akka.projection.javadsl.Handler;
import akka.projection.javadsl.SourceProvider;
import akka.projection.jdbc.javadsl.JdbcProjection;
import com.fasterxml.jackson.databind.JsonNode;
import com.typesafe.config.Config;
import com.zaxxer.hikari.HikariDataSource;
import io.fleetplane.config.metrics.Metrics;
import io.fleetplane.jobs.distribution.DistributionJob;
import io.fleetplane.jobs.distribution.Distributions;
import io.fleetplane.jobs.workflow.signal.SignalStore.Signal;
import io.fleetplane.jobs.workflow.signal.WorkflowSignals;
import io.fleetplane.persistence.JdbcPools;
import io.fleetplane.persistence.PersistenceSettings;
import io.fleetplane.persistence.PooledJdbcSession;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Distribution job completion as a signal source: when a job journals {@code JobFinished}
 * (completed, completed-with-errors, cancelled), the signal {@value #SIGNAL_NAME} with params
 * {@code jobId}, {@code status}, {@code totalItems}, {@code counts} and {@code finishedAt} is
 * published with id {@code distribution:<jobId>:<status>}.
 *
 * <p><b>Outside the actor.</b> An Akka Projection over the job's lifecycle tag (which {@code
 * JobFinished} already carries) rather than a hook in {@link DistributionJob}: the job stays
 * unaware of workflows (job-actors has no such dependency direction problem, but the job's
 * command path should not wait on a signal store), and a crash between persisting the event and
 * publishing cannot lose the signal, because the projection's offset only moves after the
 * publish completed.
 *
 * <p><b>Exactly once.</b> The projection is at-least-once (offset stored in {@code
 * akka_projection_offset_store} after the publish), so after a crash an event may be handled
 * again; the deterministic signal id makes {@link WorkflowSignals#publish} treat it as the same
 * signal, and subscriptions start one instance per signal id. Runs once in the cluster (a
 * {@link ShardedDaemonProcess} of one). A failing publish restarts the projection with backoff
 * from its last offset.
 *
 * <p>On its first start the projection begins at the journal's start, so jobs that finished
 * before this version also get their (one) signal; without subscriptions yet that only stores them.
 */
final class DistributionCompletionSignals {

  static final String SIGNAL_NAME = "distribution.completed";
  static final String SOURCE = "distribution";
  static final String PROJECTION_NAME = "distribution-completion-signals";
  static final String METRIC = "fleetplane_signals_distribution_completed";

  private static final Logger log = LoggerFactory.getLogger(DistributionCompletionSignals.class);

  /** Settings under {@code fleetplane.node.signal-sources.distribution-completed}. */
  record Settings(boolean enabled, Duration restartMinBackoff, Duration restartMaxBackoff) {
    static Settings fromConfig(Config config) {
      Config c = config.getConfig("fleetplane.node.signal-sources.distribution-completed");
      return new Settings(c.getBoolean("enabled"), c.getDuration("restart-min-backoff"),
          c.getDuration("restart-max-backoff"));
    }
  }

  private DistributionCompletionSignals() {}

  /** The signal id of a job's terminal status. */
  static String signalId(String jobId, String status) {
    return "distribution:" + jobId + ":" + status;
  }

  /** Starts the projection (once in the cluster) when enabled. */
  static void start(ActorSystem<?> system, Distributions distributions, WorkflowSignals signals) {
    Config config = system.settings().config();
    Settings settings = Settings.fromConfig(config);
    if (!settings.enabled()) {
      return;
    }
    // Only the offset store is written through it: one connection per projection run is plenty.
    HikariDataSource dataSource = JdbcPools.open(PersistenceSettings.fromConfig(config), 2,
        "fleetplane-distribution-signals");
    SourceProvider<Offset, EventEnvelope<DistributionJob.Event>> source =
        EventSourcedProvider.eventsByTag(system, JdbcReadJournal.Identifier(), DistributionJob.LIFECYCLE_TAG);
    Projection<EventEnvelope<DistributionJob.Event>> projection = JdbcProjection.atLeastOnceAsync(
            ProjectionId.of(PROJECTION_NAME, DistributionJob.LIFECYCLE_TAG),
            source,
            () -> new PooledJdbcSession(dataSource),
            () -> new CompletionHandler(distributions, signals),
            system)
        .withRestartBackoff(settings.restartMinBackoff(), settings.restartMaxBackoff(), 0.2);
    ShardedDaemonProcess.get(system).init(ProjectionBehavior.Command.class, PROJECTION_NAME, 1,
        i -> ProjectionBehavior.create(projection), ShardedDaemonProcessSettings.create(system),
        Optional.of(ProjectionBehavior.stopMessage()));
    system.getWhenTerminated().thenRun(dataSource::close);
  }

  /** Publishes the signal of each {@code JobFinished}; other lifecycle events pass. */
  static final class CompletionHandler extends Handler<EventEnvelope<DistributionJob.Event>> {
    private final Distributions distributions;
    private final WorkflowSignals signals;

    CompletionHandler(Distributions distributions, WorkflowSignals signals) {
      this.distributions = distributions;
      this.signals = signals;
    }

    @Override
    public CompletionStage<Done> process(EventEnvelope<DistributionJob.Event> envelope) {
      if (!(envelope.event() instanceof DistributionJob.JobFinished finished)) {
        return CompletableFuture.completedFuture(Done.getInstance());
      }
      String jobId = envelope.persistenceId().substring(DistributionJob.ENTITY_TYPE_KEY.name().length() + 1);
      // The counts are the job's, read back from it: JobFinished carries only the status, and
      // after JobFinished nothing changes them.
      return distributions.summary(jobId).thenCompose(reply -> {
        Map<String, JsonNode> params = new LinkedHashMap<>();
        params.put("jobId", Json.MAPPER.getNodeFactory().textNode(jobId));
        params.put("status", Json.MAPPER.getNodeFactory().textNode(finished.status()));
        if (reply instanceof DistributionJob.SummaryFound found) {
          params.put("totalItems", Json.MAPPER.getNodeFactory().numberNode(found.summary().totalItems()));
          params.put("counts", Json.MAPPER.valueToTree(found.summary().counts()));
        }
        params.put("finishedAt", Json.MAPPER.getNodeFactory().textNode(finished.at().toString()));
        String signalId = signalId(jobId, finished.status());
        return signals.publish(new Signal(signalId, SIGNAL_NAME, Map.copyOf(params), finished.at(), SOURCE))
            .thenApply(published -> {
              Metrics.increment(METRIC, Map.of("status", finished.status(),
                  "duplicate", Boolean.toString(published.duplicate())));
              log.info("Distribution job {} finished {}: signal {} published ({} instance(s) started{})", jobId,
                  finished.status(), signalId, published.triggered().size(), published.duplicate() ? ", repeat" : "");
              return Done.getInstance();
            });
      });
    }
  }
}
