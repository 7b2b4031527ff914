package io.fleetplane.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fleetplane.http.bench.BenchmarkReport;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** The suite's sizes cover every scenario, name real options, and never override the command line. */
class BenchSuiteSizesTest {

  @Test
  void everyScenarioHasSuiteSizesNamingRealOptions() throws Exception {
    CommandLine bench = new CommandLine(new Launcher.Bench());
    String description = String.join(" ", bench.getCommandSpec().usageMessage().description());
    for (Map.Entry<String, Map<String, Object>> entry : Launcher.Bench.SUITE_SIZES.entrySet()) {
      assertTrue(description.contains(entry.getKey()), "scenario named in the help: " + entry.getKey());
      assertTrue(entry.getValue().containsKey("--runs"), entry.getKey() + " sets its runs");
      for (String option : entry.getValue().keySet()) {
        assertNotNull(bench.getCommandSpec().findOption(option), entry.getKey() + ": unknown option " + option);
      }
    }
    // Every scenario the 'all' run knows (listed in the help text) has sizes.
    for (String scenario : List.of("bridge", "ingest", "canary", "e2e", "idle-sessions", "http", "schedules",
        "distribution", "workflow")) {
      assertTrue(Launcher.Bench.SUITE_SIZES.containsKey(scenario), "suite sizes for " + scenario);
    }
  }

  @Test
  void suiteSizesApplyOnlyWhereTheCommandLineWasSilent() {
    Launcher.Bench bench = new Launcher.Bench();
    CommandLine line = new CommandLine(bench);
    line.parseArgs("all", "--e2e-seconds", "7");
    bench.applySuiteSizes("e2e");
    assertEquals(7, (int) line.getCommandSpec().findOption("--e2e-seconds").getValue(), "given on the command line");
    assertEquals(2, (int) line.getCommandSpec().findOption("--runs").getValue(), "suite size");
    bench.applySuiteSizes("workflow");
    assertEquals(20_000, (int) line.getCommandSpec().findOption("--wf-iterations").getValue());
  }

  @Test
  void theSummaryAddsUpEachScenariosTime() {
    Map<String, Long> took = new LinkedHashMap<>();
    took.put("bridge", 70L);
    took.put("workflow", 110L);
    String md = BenchmarkReport.suiteSummary("./fleetplane bench all", took);
    assertTrue(md.contains("| bridge | 70 |"), md);
    assertTrue(md.contains("| **total** | **180 (3.0 min)** |"), md);
    assertTrue(md.contains("- Command: `./fleetplane bench all`"), md);
  }
}
