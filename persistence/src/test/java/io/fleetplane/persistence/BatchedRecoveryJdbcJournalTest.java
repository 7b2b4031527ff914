package io.fleetplane.persistence;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.persistence.jdbc.config.EventJournalTableConfiguration;
import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import org.junit.jupiter.api.Test;

/** The batched read's SQL and settings; the journal itself runs against PostgreSQL in BatchedRecoveryReadsIT. */
class BatchedRecoveryJdbcJournalTest {

  private static EventJournalTableConfiguration table(String overrides) {
    // The plugin's own defaults (reference.conf of akka-persistence-jdbc) under the overrides.
    Config plugin = ConfigFactory.parseString(overrides)
        .withFallback(ConfigFactory.load().getConfig("jdbc-journal"));
    return new EventJournalTableConfiguration(plugin);
  }

  @Test
  void readsTheConfiguredTableAndColumnsQuotedAsSlickDoes() {
    String sql = BatchedRecoveryJdbcJournal.highestSequenceNrsSql(table(""));
    assertEquals("SELECT ids.pid, (SELECT MAX(j.\"sequence_number\") FROM \"event_journal\" j"
        + " WHERE j.\"persistence_id\" = ids.pid) FROM unnest(?::varchar[]) AS ids(pid)", sql);
  }

  @Test
  void qualifiesTheTableWithAConfiguredSchemaAndEscapesQuotes() {
    String sql = BatchedRecoveryJdbcJournal.highestSequenceNrsSql(table(
        "tables.event_journal { schemaName = \"fleet\", tableName = \"odd\\\"name\" }"));
    assertTrue(sql.contains("FROM \"fleet\".\"odd\"\"name\" j"), sql);
  }

  @Test
  void settingsComeFromReferenceConfAndRejectNonPositiveValues() {
    BatchedRecoveryJdbcJournal.Settings defaults = BatchedRecoveryJdbcJournal.Settings.fromConfig(ConfigFactory.load());
    assertTrue(defaults.batchSize() >= 1 && defaults.parallelism() >= 1 && defaults.bufferSize() >= 1, defaults.toString());
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> new BatchedRecoveryJdbcJournal.Settings(0, 2, 10));
    assertTrue(e.getMessage().contains("fleetplane.persistence.recovery-reads"), e.getMessage());
  }
}
