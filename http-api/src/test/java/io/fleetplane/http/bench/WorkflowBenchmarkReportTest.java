package io.fleetplane.http.bench;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** The workflow benchmark's table and verdict from given runs: no node, no Temporal, no timing. */
class WorkflowBenchmarkReportTest {

  private static final String BIG = "Fleetplane foreach, 100,000 noop iterations";
  private static final String PEER_SIZE = "Fleetplane foreach, 10,000 noop iterations (peer size)";
  private static final String TEMPORAL = "Temporal test server, 10,000 child workflows (peer)";

  private static String report(int iterations, List<WorkflowBenchmark.Run> runs, String hotMethods) {
    return new WorkflowBenchmark(iterations, 10_000, 200, 0, Optional.empty()).markdown(runs, "cmd", hotMethods);
  }

  private static WorkflowBenchmark.Run run(String scenario, int n, double seconds, double peakMb) {
    return new WorkflowBenchmark.Run(scenario, n, seconds, 4L * n, scenario.startsWith("Temporal"), peakMb, 50);
  }

  @Test
  void aSlowFullRunIsNotMetWithTheFigureAndPointsAtTheProfile() {
    String md = report(100_000, List.of(run(BIG, 100_000, 58, 900), run(BIG, 100_000, 60, 950),
        run(BIG, 100_000, 59, 920)), null);
    assertTrue(md.contains("| " + BIG + " | 3 | 59.0 | 58.0-60.0 |"), md);
    assertTrue(md.contains("**not met**, median 59.0 s for 100,000 iterations (1,695 iterations/s; 2,222 needed)"), md);
    assertTrue(md.contains("peak used 950 MB for 100,000 iterations: **met**"), md);
    assertTrue(md.contains("--wf-jfr FILE"), md);
  }

  @Test
  void aFastFullRunIsMetAndAProfileIsQuoted() {
    String md = report(100_000, List.of(run(BIG, 100_000, 40, 1200)), "  1 execution samples.\n");
    assertTrue(md.contains("**met**, median 40.0 s for 100,000 iterations."), md);
    assertTrue(md.contains("peak used 1,200 MB for 100,000 iterations: **not met** as sampled"), md);
    assertTrue(md.contains("```\n  1 execution samples.\n```"), md);
  }

  @Test
  void aSmallRunNeverClaimsTheTargets() {
    String md = report(1_000, List.of(run("Fleetplane foreach, 1,000 noop iterations", 1_000, 2, 100)), null);
    assertTrue(md.contains("not evaluated: this run had 1,000 iterations"), md);
    assertTrue(md.contains("not evaluated at this size"), md);
    assertFalse(md.contains("**met**"), md);
  }

  @Test
  void theRatioIsIterationsPerSecondOverTemporalsAndTemporalEventsAreMarkedEstimated() {
    String md = report(100_000, List.of(run(BIG, 100_000, 40, 500), run(PEER_SIZE, 10_000, 20, 300),
        run(TEMPORAL, 10_000, 50, 400)), null);
    assertTrue(md.contains("| " + PEER_SIZE + " | 1 | 20.0 | 20.0-20.0 | 500 | 40,000 | 2,000 | 300 | 50 | 2.50 |"), md);
    assertTrue(md.contains("| " + TEMPORAL + " | 1 | 50.0 | 50.0-50.0 | 200 | ~40,000 | 800 | 400 | 50 | - |"), md);
    assertTrue(md.contains("| " + BIG + " | 1 | 40.0 | 40.0-40.0 | 2,500 |"), md);
  }
}
