package io.fleetplane.jobs.workflow;

import com.zaxxer.hikari.HikariDataSource;
import io.fleetplane.jobs.workflow.domain.DefinitionError;
import io.fleetplane.jobs.workflow.domain.DefinitionParser;
import io.fleetplane.jobs.workflow.domain.InvalidDefinitionException;
import io.fleetplane.jobs.workflow.domain.WorkflowDefinition;
import io.fleetplane.persistence.JdbcPools;
import io.fleetplane.persistence.PersistenceSettings;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;

/**
 * Immutable, versioned workflow definitions in the {@code workflow_definition} table (V20), and
 * the set of unfinished top-level instances ({@code workflow_instance_active}) that a starting
 * node wakes.
 *
 * <p>Why a table and not an entity: definitions are written once and then only read, by id and
 * version or as lists; SQL gives that directly, and the primary key (workflow_id, version) makes
 * concurrent "store a new version" requests safe without funnelling them through one actor.
 * Parsed definitions are cached by (id, version): a version never changes.
 *
 * <p>JDBC blocks, so every call runs on this store's own small thread pool and returns a stage.
 */
public final class WorkflowDefinitionStore implements AutoCloseable {

  /** A stored version. */
  public record StoredDefinition(String workflowId, int version, String owner, String description,
      String format, String source, Instant createdAt, WorkflowDefinition definition) {}

  /** A version without its source, for lists. */
  public record VersionInfo(String workflowId, int version, String owner, String description, Instant createdAt) {}

  private final HikariDataSource dataSource;
  private final ExecutorService executor;
  private final DefinitionParser parser;
  private final Map<String, StoredDefinition> cache = new ConcurrentHashMap<>();

  public WorkflowDefinitionStore(PersistenceSettings db, int poolSize, DefinitionParser parser) {
    this.dataSource = JdbcPools.open(db, poolSize, "fleetplane-workflow-definitions");
    this.executor = JdbcPools.blockingExecutor(poolSize, "fleetplane-workflow-store");
    this.parser = parser;
  }

  public DefinitionParser parser() {
    return parser;
  }

  /**
   * Validates and stores a new version.
   *
   * @param ownerOverride the owner from the request, used when the definition names none
   * @throws InvalidDefinitionException (in the stage) when the definition is invalid
   */
  public CompletionStage<StoredDefinition> create(String source, Optional<String> ownerOverride) {
    boolean json = source.stripLeading().startsWith("{");
    WorkflowDefinition parsed;
    try {
      parsed = parser.parse(source, json);
    } catch (InvalidDefinitionException e) {
      return CompletableFuture.failedFuture(e);
    }
    String owner = parsed.owner().isBlank() ? ownerOverride.orElse("") : parsed.owner();
    if (owner.isBlank()) {
      return CompletableFuture.failedFuture(new InvalidDefinitionException(List.of(new DefinitionError(
          DefinitionError.INVALID, null, 1, "owner is required: set it in the definition or as ?owner="))));
    }
    // PostgreSQL text cannot hold NUL: say so as a definition error instead of failing the INSERT.
    if (source.indexOf('\0') >= 0 || owner.indexOf('\0') >= 0 || parsed.description().indexOf('\0') >= 0) {
      return CompletableFuture.failedFuture(new InvalidDefinitionException(List.of(new DefinitionError(
          DefinitionError.INVALID, null, 1, "the definition, its owner and description may not contain NUL characters"))));
    }
    WorkflowDefinition definition = new WorkflowDefinition(parsed.id(), parsed.description(), owner,
        parsed.params(), parsed.steps(), parsed.timeout(),
        parsed.maxRunningInstances(), parsed.runStrategy());
    return CompletableFuture.supplyAsync(() -> insert(definition, json ? "json" : "yaml", source), executor);
  }

  private StoredDefinition insert(WorkflowDefinition d, String format, String source) {
    String sql = "INSERT INTO workflow_definition (workflow_id, version, owner, description, source_format, source)"
        + " SELECT ?, COALESCE(MAX(version), 0) + 1, ?, ?, ?, ? FROM workflow_definition WHERE workflow_id = ?"
        + " RETURNING version, created_at";
    SQLException last = null;
    for (int attempt = 0; attempt < 5; attempt++) {
      try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement(sql)) {
        ps.setString(1, d.id());
        ps.setString(2, d.owner());
        ps.setString(3, d.description());
        ps.setString(4, format);
        ps.setString(5, source);
        ps.setString(6, d.id());
        try (ResultSet rs = ps.executeQuery()) {
          rs.next();
          StoredDefinition stored = new StoredDefinition(d.id(), rs.getInt(1), d.owner(), d.description(), format,
              source, rs.getTimestamp(2).toInstant(), d);
          cache.put(key(d.id(), stored.version()), stored);
          return stored;
        }
      } catch (SQLException e) {
        // 23505: another request took this version number at the same moment; take the next.
        if (!"23505".equals(e.getSQLState())) {
          throw new IllegalStateException("could not store workflow " + d.id() + ": " + e.getMessage(), e);
        }
        last = e;
      }
    }
    throw new IllegalStateException("could not store workflow " + d.id() + " after 5 version races", last);
  }

  /** One version, or the latest when {@code version} is empty. */
  public CompletionStage<Optional<StoredDefinition>> get(String workflowId, Optional<Integer> version) {
    if (version.isPresent()) {
      StoredDefinition cached = cache.get(key(workflowId, version.get()));
      if (cached != null) {
        return CompletableFuture.completedFuture(Optional.of(cached));
      }
    }
    return CompletableFuture.supplyAsync(() -> load(workflowId, version), executor);
  }

  private Optional<StoredDefinition> load(String workflowId, Optional<Integer> version) {
    String sql = "SELECT version, owner, description, source_format, source, created_at FROM workflow_definition"
        + " WHERE workflow_id = ?" + (version.isPresent() ? " AND version = ?" : "")
        + " ORDER BY version DESC LIMIT 1";
    try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement(sql)) {
      ps.setString(1, workflowId);
      if (version.isPresent()) {
        ps.setInt(2, version.get());
      }
      try (ResultSet rs = ps.executeQuery()) {
        if (!rs.next()) {
          return Optional.empty();
        }
        int v = rs.getInt(1);
        StoredDefinition cached = cache.get(key(workflowId, v));
        if (cached != null) {
          return Optional.of(cached);
        }
        String source = rs.getString(5);
        WorkflowDefinition parsed = parser.parse(source, "json".equals(rs.getString(4)));
        WorkflowDefinition d = new WorkflowDefinition(parsed.id(), parsed.description(), rs.getString(2),
            parsed.params(), parsed.steps(), parsed.timeout(),
            parsed.maxRunningInstances(), parsed.runStrategy());
        StoredDefinition stored = new StoredDefinition(workflowId, v, rs.getString(2), rs.getString(3),
            rs.getString(4), source, rs.getTimestamp(6).toInstant(), d);
        cache.put(key(workflowId, v), stored);
        return Optional.of(stored);
      }
    } catch (SQLException e) {
      throw new IllegalStateException("could not read workflow " + workflowId + ": " + e.getMessage(), e);
    }
  }

  /** Every version of one workflow, newest first (empty when it does not exist). */
  public CompletionStage<List<VersionInfo>> versions(String workflowId) {
    return query("SELECT workflow_id, version, owner, description, created_at FROM workflow_definition"
        + " WHERE workflow_id = ? ORDER BY version DESC", workflowId);
  }

  /** The latest version of every workflow, by id. */
  public CompletionStage<List<VersionInfo>> list() {
    return query("SELECT DISTINCT ON (workflow_id) workflow_id, version, owner, description, created_at"
        + " FROM workflow_definition ORDER BY workflow_id, version DESC", null);
  }

  private CompletionStage<List<VersionInfo>> query(String sql, String arg) {
    return CompletableFuture.supplyAsync(() -> {
      try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement(sql)) {
        if (arg != null) {
          ps.setString(1, arg);
        }
        List<VersionInfo> out = new ArrayList<>();
        try (ResultSet rs = ps.executeQuery()) {
          while (rs.next()) {
            out.add(new VersionInfo(rs.getString(1), rs.getInt(2), rs.getString(3), rs.getString(4),
                rs.getTimestamp(5).toInstant()));
          }
        }
        return out;
      } catch (SQLException e) {
        throw new IllegalStateException("could not list workflows: " + e.getMessage(), e);
      }
    }, executor);
  }

  /** Records a top-level instance as unfinished (idempotent). */
  public CompletionStage<Void> markActive(String instanceId, String workflowId) {
    return CompletableFuture.runAsync(() -> update(
        "INSERT INTO workflow_instance_active (instance_id, workflow_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
        instanceId, workflowId), executor);
  }

  /** Forgets a finished instance (idempotent). */
  public CompletionStage<Void> markFinished(String instanceId) {
    return CompletableFuture.runAsync(() -> update(
        "DELETE FROM workflow_instance_active WHERE instance_id = ?", instanceId), executor);
  }

  /** Unfinished top-level instances, for waking them after a restart. */
  public CompletionStage<List<String>> activeInstances() {
    return CompletableFuture.supplyAsync(() -> {
      try (Connection c = dataSource.getConnection();
           PreparedStatement ps = c.prepareStatement("SELECT instance_id FROM workflow_instance_active");
           ResultSet rs = ps.executeQuery()) {
        List<String> out = new ArrayList<>();
        while (rs.next()) {
          out.add(rs.getString(1));
        }
        return out;
      } catch (SQLException e) {
        throw new IllegalStateException("could not list active workflow instances: " + e.getMessage(), e);
      }
    }, executor);
  }

  private void update(String sql, String... args) {
    try (Connection c = dataSource.getConnection(); PreparedStatement ps = c.prepareStatement(sql)) {
      for (int i = 0; i < args.length; i++) {
        ps.setString(i + 1, args[i]);
      }
      ps.executeUpdate();
    } catch (SQLException e) {
      throw new IllegalStateException("workflow_instance_active: " + e.getMessage(), e);
    }
  }

  private static String key(String workflowId, int version) {
    return workflowId + "@" + version;
  }

  @Override
  public void close() {
    executor.shutdown();
    dataSource.close();
  }
}
