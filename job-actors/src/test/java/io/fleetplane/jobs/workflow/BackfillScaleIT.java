package io.fleetplane.jobs.workflow;

import static io.fleetplane.jobs.workflow.WorkflowFixture.awaitFinished;
import static io.fleetplane.jobs.workflow.WorkflowFixture.step;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.actor.typed.ActorSystem;
import com.fasterxml.jackson.databind.node.TextNode;
import io.fleetplane.jobs.workflow.WorkflowInstance.InstanceView;
import io.fleetplane.jobs.workflow.domain.InstanceStatus;
import io.fleetplane.testkit.infra.PostgresEndpoint;
import io.fleetplane.testkit.infra.TestPostgres;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The backfill example at scale. By default a CI-sized run (2,000 hourly iterations); the
 * 43,800-iteration variant (five years of hours) is the same test with
 * {@code -Dfleetplane.test.backfill.hours=43800} (see job-actors/README.md for the command and
 * the numbers measured). Concurrency defaults to 200 ({@code -Dfleetplane.test.backfill.concurrency}).
 */
class BackfillScaleIT {

  @Test
  void theBackfillCompletesEveryHourOnce() throws Exception {
    int hours = Integer.getInteger("fleetplane.test.backfill.hours", 2000);
    int concurrency = Integer.getInteger("fleetplane.test.backfill.concurrency", 200);
    PostgresEndpoint db = TestPostgres.newSchema();
    WorkflowFixture.migrate(db);
    ActorSystem<Void> system = WorkflowFixture.startSystem(WorkflowFixture.config(db));
    try {
      WorkflowEngine engine = WorkflowEngine.start(system);
      String yaml = Files.readString(Path.of("../examples/backfill.yaml"))
          .replace("concurrency: 10", "concurrency: " + concurrency);
      WorkflowFixture.store(engine, yaml);
      Instant start = Instant.parse("2020-01-01T00:00:00Z");
      long t0 = System.nanoTime();
      InstanceView started = WorkflowFixture.start(engine, "backfill", Map.of(
          "start", TextNode.valueOf(start.toString()),
          "end", TextNode.valueOf(start.plus(Duration.ofHours(hours)).toString())));
      InstanceView done = awaitFinished(engine, started.instanceId(), Duration.ofSeconds(30 + hours / 50));
      double seconds = (System.nanoTime() - t0) / 1e9;
      assertEquals(InstanceStatus.SUCCEEDED, done.status(), done.reason());
      var loop = step(done, "step2").foreach().orElseThrow();
      assertEquals(hours, loop.total());
      assertEquals(hours, loop.succeeded());
      InstanceView last = WorkflowFixture.view(engine, loop.iterationIdPrefix() + (hours - 1)).orElseThrow();
      assertEquals(start.plus(Duration.ofHours(hours - 1)).toString(),
          step(last, "job1").outputs().get("date").asText());
      long heapMb = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed() / (1024 * 1024);
      long peakMb = ManagementFactory.getMemoryPoolMXBeans().stream()
          .filter(p -> p.getType() == java.lang.management.MemoryType.HEAP)
          .mapToLong(p -> p.getPeakUsage().getUsed()).sum() / (1024 * 1024);
      // Retained after a full GC: what the finished run still holds (the parent's state, caches).
      System.gc();
      long retainedMb = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed() / (1024 * 1024);
      System.out.printf("backfill: %d iterations, concurrency %d, %.1f s, %.0f iterations/s, heap used at the end"
          + " %d MB (garbage included), sum of heap pool peaks %d MB, retained after GC %d MB%n",
          hours, concurrency, seconds, hours / seconds, heapMb, peakMb, retainedMb);
      assertTrue(seconds > 0);
    } finally {
      WorkflowFixture.stop(system);
      TestPostgres.dropSchema(db);
    }
  }
}
