package io.fleetplane.jobs.workflow.signal;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.zaxxer.hikari.HikariDataSource;
import io.fleetplane.persistence.JdbcPools;
import io.fleetplane.persistence.PersistenceSettings;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutorService;

/**
 * Signals, subscriptions and triggers (persistence V51), gates and origins (V52). JDBC blocks, so every call runs on the
 * store's own small pool and returns a stage.
 */
public final class SignalStore implements AutoCloseable {

  /** A fact that may start workflows. */
  public record Signal(String signalId, String name, Map<String, JsonNode> params, Instant time, String source) {}

  /** Start an instance of {@code workflowId} when a signal named {@code signalName} satisfies {@code condition}. */
  public record Subscription(String subscriptionId, String workflowId, String signalName, String condition,
      Map<String, JsonNode> paramMapping, Instant createdAt) {}

  /** A signal started an instance through a subscription. */
  public record Trigger(String signalId, String subscriptionId, String workflowId, String instanceId,
      Instant triggeredAt) {}

  /** A gated step a signal opened (lineage both ways). */
  public record GateOpening(String instanceId, String workflowId, String stepId, String signalId, Instant openedAt) {}

  /** The workflow step that published a signal (signal steps only). */
  public record Origin(String signalId, String instanceId, String workflowId, String stepId) {}

  private static final ObjectMapper JSON = new ObjectMapper();

  private final HikariDataSource dataSource;
  private final ExecutorService executor;

  public SignalStore(PersistenceSettings db, int poolSize) {
    this.dataSource = JdbcPools.open(db, poolSize, "fleetplane-workflow-signals");
    this.executor = JdbcPools.blockingExecutor(poolSize, "fleetplane-signal-store");
  }

  /** Stores a signal unless one with its id exists; true when it is new. The first version wins. */
  public CompletionStage<Boolean> insert(Signal s) {
    return async(() -> update("INSERT INTO workflow_signal (signal_id, name, params, signal_time, source)"
        + " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING", s.signalId(), s.name(), JSON.writeValueAsString(s.params()),
        Timestamp.from(s.time()), s.source()) == 1);
  }

  public CompletionStage<Optional<Signal>> get(String signalId) {
    return async(() -> {
      try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement(
          "SELECT signal_id, name, params, signal_time, source FROM workflow_signal WHERE signal_id = ?")) {
        ps.setString(1, signalId);
        try (ResultSet rs = ps.executeQuery()) {
          return rs.next() ? Optional.of(new Signal(rs.getString(1), rs.getString(2), map(rs.getString(3)),
              rs.getTimestamp(4).toInstant(), rs.getString(5))) : Optional.empty();
        }
      }
    });
  }

  public CompletionStage<Subscription> insert(Subscription s) {
    return async(() -> {
      update("INSERT INTO workflow_signal_subscription (subscription_id, workflow_id, signal_name, condition,"
          + " param_mapping, created_at) VALUES (?, ?, ?, ?, ?, ?)", s.subscriptionId(), s.workflowId(),
          s.signalName(), s.condition(), JSON.writeValueAsString(s.paramMapping()), Timestamp.from(s.createdAt()));
      return s;
    });
  }

  public CompletionStage<List<Subscription>> subscriptionsTo(String signalName) {
    return async(() -> subscriptions("signal_name = ?", signalName));
  }

  public CompletionStage<List<Subscription>> subscriptionsOf(String workflowId) {
    return async(() -> subscriptions("workflow_id = ?", workflowId));
  }

  public CompletionStage<Optional<Subscription>> subscription(String subscriptionId) {
    return async(() -> subscriptions("subscription_id = ?", subscriptionId).stream().findFirst());
  }

  public CompletionStage<Boolean> deleteSubscription(String subscriptionId) {
    return async(() -> update("DELETE FROM workflow_signal_subscription WHERE subscription_id = ?",
        subscriptionId) > 0);
  }

  /** Idempotent: the same (signal, subscription) keeps its first row. */
  public CompletionStage<Void> recordTrigger(String signalId, String subscriptionId, String workflowId,
      String instanceId) {
    return async(() -> {
      update("INSERT INTO workflow_signal_trigger (signal_id, subscription_id, workflow_id, instance_id)"
          + " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING", signalId, subscriptionId, workflowId, instanceId);
      return null;
    });
  }

  /** What a signal started (lineage, signal -> instances). */
  public CompletionStage<List<Trigger>> triggersOf(String signalId) {
    return async(() -> triggers("signal_id = ?", signalId));
  }

  /** The signal that started an instance, if one did (lineage, instance -> signal). */
  public CompletionStage<Optional<Trigger>> triggerOfInstance(String instanceId) {
    return async(() -> triggers("instance_id = ?", instanceId).stream().findFirst());
  }

  /**
   * Registers a waiting gate (idempotent: a re-registration after recovery keeps the first row
   * and its {@code since}) and answers the signal that already opened it, if one did.
   */
  public CompletionStage<Optional<String>> registerGate(String instanceId, String stepId, String workflowId,
      String signalName, Instant since) {
    return async(() -> {
      update("INSERT INTO workflow_signal_gate (instance_id, step_id, workflow_id, signal_name, since)"
          + " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING", instanceId, stepId, workflowId, signalName,
          Timestamp.from(since));
      return claimed(instanceId, stepId);
    });
  }

  /** Signals of a name received at or after {@code since}, oldest first (the order gates try them in). */
  public CompletionStage<List<Signal>> receivedSince(String name, Instant since, int limit) {
    return async(() -> {
      try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement(
          "SELECT signal_id, name, params, signal_time, source FROM workflow_signal WHERE name = ?"
              + " AND received_at >= ? ORDER BY received_at, signal_id LIMIT ?")) {
        ps.setString(1, name);
        ps.setTimestamp(2, Timestamp.from(since));
        ps.setInt(3, limit);
        List<Signal> out = new ArrayList<>();
        try (ResultSet rs = ps.executeQuery()) {
          while (rs.next()) {
            out.add(new Signal(rs.getString(1), rs.getString(2), map(rs.getString(3)), rs.getTimestamp(4).toInstant(),
                rs.getString(5)));
          }
        }
        return out;
      }
    });
  }

  /**
   * Opens a gate with {@code signalId} unless another signal opened it first; answers the signal
   * that did (this one or the earlier), or empty when the gate is not registered.
   */
  public CompletionStage<Optional<String>> claimGate(String instanceId, String stepId, String signalId) {
    return async(() -> {
      update("UPDATE workflow_signal_gate SET signal_id = ?, opened_at = now() WHERE instance_id = ? AND step_id = ?"
          + " AND signal_id IS NULL", signalId, instanceId, stepId);
      return claimed(instanceId, stepId);
    });
  }

  private Optional<String> claimed(String instanceId, String stepId) throws SQLException {
    try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement(
        "SELECT signal_id FROM workflow_signal_gate WHERE instance_id = ? AND step_id = ?")) {
      ps.setString(1, instanceId);
      ps.setString(2, stepId);
      try (ResultSet rs = ps.executeQuery()) {
        return rs.next() ? Optional.ofNullable(rs.getString(1)) : Optional.empty();
      }
    }
  }

  /** A gate that stopped waiting unopened (the step timed out, was cancelled): publish stops waking it. */
  public CompletionStage<Void> dropWaitingGate(String instanceId, String stepId) {
    return async(() -> {
      update("DELETE FROM workflow_signal_gate WHERE instance_id = ? AND step_id = ? AND signal_id IS NULL",
          instanceId, stepId);
      return null;
    });
  }

  /** Instances with a gate waiting for signals of this name. */
  public CompletionStage<List<String>> instancesWaitingFor(String signalName) {
    return async(() -> {
      try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement(
          "SELECT DISTINCT instance_id FROM workflow_signal_gate WHERE signal_name = ? AND signal_id IS NULL")) {
        ps.setString(1, signalName);
        List<String> out = new ArrayList<>();
        try (ResultSet rs = ps.executeQuery()) {
          while (rs.next()) {
            out.add(rs.getString(1));
          }
        }
        return out;
      }
    });
  }

  /** The steps a signal opened (lineage, signal -> gates). */
  public CompletionStage<List<GateOpening>> gatesOpenedBy(String signalId) {
    return async(() -> openings("signal_id = ?", signalId));
  }

  /** The opened gates of an instance (lineage, instance -> signals). */
  public CompletionStage<List<GateOpening>> gatesOpenedIn(String instanceId) {
    return async(() -> openings("instance_id = ? AND signal_id IS NOT NULL", instanceId));
  }

  private List<GateOpening> openings(String where, String arg) throws SQLException {
    try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement(
        "SELECT instance_id, workflow_id, step_id, signal_id, opened_at FROM workflow_signal_gate WHERE " + where
            + " ORDER BY opened_at, instance_id, step_id")) {
      ps.setString(1, arg);
      List<GateOpening> out = new ArrayList<>();
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          out.add(new GateOpening(rs.getString(1), rs.getString(2), rs.getString(3), rs.getString(4),
              rs.getTimestamp(5).toInstant()));
        }
      }
      return out;
    }
  }

  /** Idempotent: a signal keeps its first origin. */
  public CompletionStage<Void> recordOrigin(Origin o) {
    return async(() -> {
      update("INSERT INTO workflow_signal_origin (signal_id, instance_id, workflow_id, step_id) VALUES (?, ?, ?, ?)"
          + " ON CONFLICT DO NOTHING", o.signalId(), o.instanceId(), o.workflowId(), o.stepId());
      return null;
    });
  }

  public CompletionStage<Optional<Origin>> originOf(String signalId) {
    return async(() -> origins("signal_id = ?", signalId).stream().findFirst());
  }

  /** The signals an instance's steps published. */
  public CompletionStage<List<Origin>> publishedBy(String instanceId) {
    return async(() -> origins("instance_id = ?", instanceId));
  }

  private List<Origin> origins(String where, String arg) throws SQLException {
    try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement(
        "SELECT signal_id, instance_id, workflow_id, step_id FROM workflow_signal_origin WHERE " + where
            + " ORDER BY recorded_at, signal_id")) {
      ps.setString(1, arg);
      List<Origin> out = new ArrayList<>();
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          out.add(new Origin(rs.getString(1), rs.getString(2), rs.getString(3), rs.getString(4)));
        }
      }
      return out;
    }
  }

  private List<Trigger> triggers(String where, String arg) throws SQLException {
    try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement(
        "SELECT signal_id, subscription_id, workflow_id, instance_id, triggered_at FROM workflow_signal_trigger"
            + " WHERE " + where + " ORDER BY triggered_at, subscription_id")) {
      ps.setString(1, arg);
      List<Trigger> out = new ArrayList<>();
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          out.add(new Trigger(rs.getString(1), rs.getString(2), rs.getString(3), rs.getString(4),
              rs.getTimestamp(5).toInstant()));
        }
      }
      return out;
    }
  }

  private List<Subscription> subscriptions(String where, String arg) throws Exception {
    try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement(
        "SELECT subscription_id, workflow_id, signal_name, condition, param_mapping, created_at"
            + " FROM workflow_signal_subscription WHERE " + where + " ORDER BY created_at, subscription_id")) {
      ps.setString(1, arg);
      List<Subscription> out = new ArrayList<>();
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          out.add(new Subscription(rs.getString(1), rs.getString(2), rs.getString(3), rs.getString(4),
              map(rs.getString(5)), rs.getTimestamp(6).toInstant()));
        }
      }
      return out;
    }
  }

  private static Map<String, JsonNode> map(String json) throws Exception {
    Map<String, JsonNode> out = new LinkedHashMap<>();
    JSON.readTree(json).fields().forEachRemaining(f -> out.put(f.getKey(), f.getValue()));
    return out;
  }

  private int update(String sql, Object... args) throws SQLException {
    try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement(sql)) {
      for (int i = 0; i < args.length; i++) {
        ps.setObject(i + 1, args[i]);
      }
      return ps.executeUpdate();
    }
  }

  private interface Sql<T> {
    T run() throws Exception;
  }

  private <T> CompletionStage<T> async(Sql<T> work) {
    return CompletableFuture.supplyAsync(() -> {
      try {
        return work.run();
      } catch (RuntimeException e) {
        throw e;
      } catch (Exception e) {
        throw new IllegalStateException("workflow signals: " + e.getMessage(), e);
      }
    }, executor);
  }

  @Override
  public void close() {
    executor.shutdown();
    dataSource.close();
  }
}
