package io.fleetplane.http.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Optional;
import org.apache.pdfbox.Loader;
import org.apache.pdfbox.pdmodel.PDDocument;
import org.junit.jupiter.api.Test;

/** The report's arithmetic and verdicts, and the generated sources; no job runs here. */
class DistributionBenchmarkTest {

  private static final long MIB = 1024 * 1024;

  @Test
  void reportsMediansRatiosAndVerdictsPerSize() {
    var bench = new DistributionBenchmark(10, List.of(100, 1000), 10, 2, true, Optional.empty());
    String md = bench.markdown(List.of(
        new DistributionBenchmark.Run(DistributionBenchmark.FLEETPLANE, 1000, 12.0, 300 * MIB, 80 * MIB),
        new DistributionBenchmark.Run(DistributionBenchmark.RAW, 1000, 10.0, 200 * MIB, 40 * MIB),
        new DistributionBenchmark.Run(DistributionBenchmark.FLEETPLANE, 1000, 14.0, 310 * MIB, 90 * MIB),
        new DistributionBenchmark.Run(DistributionBenchmark.RAW, 1000, 10.0, 210 * MIB, 41 * MIB),
        new DistributionBenchmark.Run(DistributionBenchmark.FLEETPLANE, 10000, 200.0, 500 * MIB, 120 * MIB),
        new DistributionBenchmark.Run(DistributionBenchmark.RAW, 10000, 100.0, 220 * MIB, 45 * MIB)), "cmd");

    // Medians: of 12 and 14 s, 13 s; of 83.3 and 71.4 copies/s, 77.4; ratio 13 / 10.
    assertTrue(md.contains("| 1,000 | fleetplane job (actor + journal + store) | 2 | 13.00 | 12.00-14.00 | 77.4 | 305 | 90 | 1.30 |"), md);
    assertTrue(md.contains("| 1,000 | raw PDFBox loop (ceiling) | 2 | 10.00 | 10.00-10.00 | 100.0 | 205 | 41 | - |"), md);
    assertTrue(md.contains("- 1,000 copies: 13.0 s against a target of <= 15.0 s: **met**; 1.30x the raw loop against"
        + " <= 1.3x: **met**"), md);
    assertTrue(md.contains("- 10,000 copies: 200.0 s against a target of <= 150.0 s: **not met**; 2.00x the raw loop"
        + " against <= 1.3x: **not met**; the raw loop alone took 100.0 s, within the target."), md);
    assertTrue(md.contains("1,000 copies 90 MiB; 10,000 copies 120 MiB."), md);
    assertTrue(md.contains("10 files x 100 / 1,000 recipients, 10 pages"), md);
  }

  @Test
  void runsWithoutACollectionSayNoGc() {
    var bench = new DistributionBenchmark(2, List.of(10), 3, 2, false, Optional.empty());
    String md = bench.markdown(List.of(
        new DistributionBenchmark.Run(DistributionBenchmark.FLEETPLANE, 20, 1.0, 70 * MIB, 0),
        new DistributionBenchmark.Run(DistributionBenchmark.RAW, 20, 0.5, 60 * MIB, 0)), "cmd");
    assertTrue(md.contains("| 70 | no GC | 2.00 |"), md);
    assertTrue(md.contains("no password"), md);
  }

  @Test
  void sourcesAreMultiPagePdfsThatDifferPerFile() throws Exception {
    byte[] a = DistributionBenchmark.script("Episode 10", 5, 0);
    byte[] b = DistributionBenchmark.script("Episode 11", 5, 1);
    try (PDDocument doc = Loader.loadPDF(a)) {
      assertEquals(5, doc.getNumberOfPages());
    }
    assertTrue(!java.util.Arrays.equals(a, b), "each file is its own document in the content-addressed store");
  }

  @Test
  void heapPeakSeesAnAllocation() {
    long[] keep;
    try (HeapPeak heap = new HeapPeak()) {
      keep = new long[8 * 1024 * 1024]; // 64 MiB
      assertTrue(heap.peakUsedBytes() >= 64 * MIB, "peak " + heap.peakUsedBytes());
    }
    assertEquals(8 * 1024 * 1024, keep.length);
  }
}
