package io.fleetplane.http.bench;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class IngestBenchmarkReportTest {

  private static IngestBenchmark.Run run(String scenario, double rate) {
    return new IngestBenchmark.Run(scenario, 30_000, rate, 29_000, 10.0, 80, 90);
  }

  @Test
  void ratioIsToTheBaselineOfTheSameRun() {
    String md = IngestBenchmark.markdown(List.of(
        run("fleetplane registry (Alpakka -> DeviceSession -> JDBC journal)", 3_000),
        run("spring-kafka @KafkaListener (baseline)", 2_000)), "cmd", "notes");
    assertTrue(md.contains("| 1.50 |"), md);
  }

  @Test
  void warmSessionScenariosStillFindTheirBaseline() {
    // --warm-sessions suffixes every scenario name; the ratio column read NaN before.
    String md = IngestBenchmark.markdown(List.of(
        run("fleetplane registry (Alpakka -> DeviceSession -> JDBC journal), sessions existing", 1_000),
        run("spring-kafka @KafkaListener (baseline), sessions existing", 2_000)), "cmd", "notes");
    assertTrue(md.contains("| 0.50 |"), md);
    assertFalse(md.contains("NaN"), md);
  }
}
