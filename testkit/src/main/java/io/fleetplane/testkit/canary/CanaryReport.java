package io.fleetplane.testkit.canary;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * Writes a run's report files: {@code canary-<run>.json} (the whole {@link CanaryResult}) and
 * {@code canary-<run>.png} (consumer lag, and acknowledged/processed messages per second, over
 * time), so a CI job can keep both as artifacts.
 */
public final class CanaryReport {

  /** The files written. */
  public record Files(Path json, Path png) {}

  private CanaryReport() {}

  public static Files write(CanaryResult result, Path dir) throws IOException {
    java.nio.file.Files.createDirectories(dir);
    Path json = dir.resolve("canary-" + result.runId() + ".json");
    java.nio.file.Files.writeString(json, result.toJson(), StandardCharsets.UTF_8);
    Path png = dir.resolve("canary-" + result.runId() + ".png");
    writeChart(result, png);
    return new Files(json, png);
  }

  static void writeChart(CanaryResult result, Path png) throws IOException {
    List<CanaryResult.Sample> samples = result.samples();
    double[] t = samples.isEmpty() ? new double[] {0} : samples.stream().mapToDouble(CanaryResult.Sample::atSeconds).toArray();
    XYChart lag = chart("Registry consumer lag (" + result.runId() + ", " + (result.passed() ? "PASS" : "FAIL") + ")",
        "records behind");
    add(lag, "lag", t, samples.isEmpty() ? new double[] {0}
        : samples.stream().mapToDouble(s -> s.lag() == null ? 0 : s.lag()).toArray());
    XYChart throughput = chart("Throughput", "messages/s");
    add(throughput, "acknowledged by broker", t, samples.isEmpty() ? new double[] {0}
        : samples.stream().mapToDouble(s -> s.ackedPerSecond() == null ? 0 : s.ackedPerSecond()).toArray());
    add(throughput, "processed by registry", t, samples.isEmpty() ? new double[] {0}
        : samples.stream().mapToDouble(s -> s.processedPerSecond() == null ? 0 : s.processedPerSecond()).toArray());
    String base = png.toString().endsWith(".png") ? png.toString().substring(0, png.toString().length() - 4) : png.toString();
    BitmapEncoder.saveBitmap(List.of(lag, throughput), 2, 1, base, BitmapEncoder.BitmapFormat.PNG);
  }

  private static XYChart chart(String title, String yTitle) {
    XYChart chart = new XYChartBuilder().width(900).height(320).title(title).xAxisTitle("seconds").yAxisTitle(yTitle).build();
    chart.getStyler().setLegendPosition(org.knowm.xchart.style.Styler.LegendPosition.InsideNE);
    chart.getStyler().setDefaultSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.Line);
    return chart;
  }

  private static void add(XYChart chart, String name, double[] x, double[] y) {
    chart.addSeries(name, x, y).setMarker(SeriesMarkers.NONE);
  }

  /** Reads a report written by {@link #write}. */
  public static CanaryResult read(Path json) throws IOException {
    return CanaryResult.fromJson(java.nio.file.Files.readString(json, StandardCharsets.UTF_8));
  }
}
