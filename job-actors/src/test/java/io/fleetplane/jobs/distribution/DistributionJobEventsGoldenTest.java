package io.fleetplane.jobs.distribution;

import static org.junit.jupiter.api.Assertions.assertEquals;

import akka.actor.testkit.typed.javadsl.ActorTestKit;
import akka.serialization.jackson.JacksonObjectMapperProvider;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fleetplane.jobs.distribution.domain.DistributionFile;
import io.fleetplane.jobs.distribution.domain.DistributionOptions;
import io.fleetplane.jobs.distribution.domain.DistributionPriority;
import io.fleetplane.jobs.distribution.domain.PushTarget;
import io.fleetplane.jobs.distribution.domain.DistributionSpec;
import io.fleetplane.jobs.distribution.domain.Recipient;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Journaled events are schema: each one is compared with a committed JSON fixture (written by
 * Akka's own Jackson mapper, as the journal's CBOR is) and read back from it. A renamed or
 * retyped field fails here, before it fails a recovery in production. Regenerate deliberately
 * with {@code -Dgolden.write=true} and review the diff.
 */
class DistributionJobEventsGoldenTest {

  private static final Instant AT = Instant.parse("2026-11-23T10:00:00Z");
  private static final String JOB = "3f2b8c1e-9a4d-4e7b-8c2a-1d5e6f7a8b9c";
  private static ActorTestKit testKit;
  private static ObjectMapper mapper;

  static final Map<String, DistributionJob.Event> EVENTS = Map.of(
      "JobCreated", new DistributionJob.JobCreated(JOB, new DistributionSpec(
          List.of(new DistributionFile("a".repeat(64), "ep1.pdf")),
          List.of(new Recipient("r0", "Ada Lovelace", "ada@example.com")),
          new DistributionOptions("{recipient.name} - {date}", true, 604800, true)), AT),
      "JobCreatedWithPush", new DistributionJob.JobCreated(JOB, new DistributionSpec(
          List.of(new DistributionFile("a".repeat(64), "ep1.pdf")),
          List.of(new Recipient("r0", "Ada Lovelace", "ada@example.com",
                  new PushTarget("app-user-17", "RAE-1", "0f2b8c1e-9a4d-4e7b-8c2a-1d5e6f7a8b90")),
              new Recipient("r1", "Grace Hopper", "grace@example.com")),
          new DistributionOptions("{recipient.name}", false, 3600, true, true, "high")), AT),
      "ItemRendered", new DistributionJob.ItemRendered("f0-r0", "b".repeat(64), 12345, "c".repeat(64),
          AT.plusSeconds(604800), 2, AT),
      "ItemNotified", new DistributionJob.ItemNotified("f0-r0", "<" + JOB + ".f0-r0@fleetplane>", 1, AT),
      "ItemFailed", new DistributionJob.ItemFailed("f0-r0", "render", "source-corrupt: stored document is corrupt", 1, AT),
      "JobCancelled", new DistributionJob.JobCancelled(AT),
      "JobFinished", new DistributionJob.JobFinished("completed-with-errors", AT),
      "LinksRevoked", new DistributionJob.LinksRevoked("r0", AT),
      "LinkDownloaded", new DistributionJob.LinkDownloaded("f0-r0", AT));

  /**
   * Fixtures written before a field was added, with the event they must still read as: journals
   * written then are still replayed (push targets, pushNotification and priority came later).
   */
  static final Map<String, DistributionJob.Event> LEGACY = Map.of(
      "JobCreated-v1", new DistributionJob.JobCreated(JOB, new DistributionSpec(
          List.of(new DistributionFile("a".repeat(64), "ep1.pdf")),
          List.of(new Recipient("r0", "Ada Lovelace", "ada@example.com", null)),
          new DistributionOptions("{recipient.name} - {date}", true, 604800, true, false, null)), AT));

  @BeforeAll
  static void start() {
    testKit = ActorTestKit.create();
    mapper = JacksonObjectMapperProvider.get(testKit.system()).getOrCreate("jackson-json", Optional.empty());
  }

  @AfterAll
  static void stop() {
    testKit.shutdownTestKit();
  }

  @Test
  void everyEventMatchesItsFixtureBothWays() throws Exception {
    for (var entry : EVENTS.entrySet()) {
      String name = "golden/distribution-job/" + entry.getKey() + ".json";
      String json = mapper.writerWithDefaultPrettyPrinter().writeValueAsString(entry.getValue()) + "\n";
      if (Boolean.getBoolean("golden.write")) {
        Path file = Path.of("src/test/resources", name);
        Files.createDirectories(file.getParent());
        Files.writeString(file, json);
        continue; // the classpath still holds the old copy; the next run compares
      }
      String fixture;
      try (InputStream in = getClass().getClassLoader().getResourceAsStream(name)) {
        if (in == null) {
          throw new AssertionError("missing fixture " + name + " (run once with -Dgolden.write=true)");
        }
        fixture = new String(in.readAllBytes(), StandardCharsets.UTF_8);
      }
      assertEquals(fixture, json, entry.getKey() + " no longer serializes as its fixture");
      assertEquals(entry.getValue(), mapper.readValue(fixture, entry.getValue().getClass()),
          entry.getKey() + " fixture no longer reads back");
    }
  }

  @Test
  void eventsJournaledBeforeLaterFieldsStillReadBack() throws Exception {
    for (var entry : LEGACY.entrySet()) {
      String name = "golden/distribution-job/" + entry.getKey() + ".json";
      try (InputStream in = getClass().getClassLoader().getResourceAsStream(name)) {
        if (in == null) {
          throw new AssertionError("missing legacy fixture " + name);
        }
        DistributionJob.Event read = mapper.readValue(in, entry.getValue().getClass());
        assertEquals(entry.getValue(), read, entry.getKey() + " no longer reads as it did");
        if (read instanceof DistributionJob.JobCreated created) {
          assertEquals(DistributionPriority.NORMAL, created.spec().options().priorityLevel());
          assertEquals(false, created.spec().options().pushNotification());
          assertEquals(null, created.spec().recipients().get(0).pushTarget());
        }
      }
    }
  }
}
