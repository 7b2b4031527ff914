package io.fleetplane.http.bench;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.LocalDate;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.ToDoubleFunction;

/**
 * Turns repeated runs into the table in docs/benchmarks.md: medians of every figure, the spread
 * of throughput across runs (the machine is shared, so say how noisy it was), and each scenario's
 * ratio to the named baseline measured in the same invocation.
 */
public final class BenchmarkReport {

  private final Map<String, List<BridgeBenchmark.Run>> runs = new LinkedHashMap<>();

  public void add(BridgeBenchmark.Run run) {
    runs.computeIfAbsent(run.scenario(), k -> new ArrayList<>()).add(run);
  }

  /** A markdown section: what ran, where, when, and the table. */
  public String markdown(String title, String command, String baseline, String notes) {
    StringBuilder md = new StringBuilder(header(title, command, notes))
        .append("| scenario | runs | msg/s (median) | msg/s min-max | p50 ms | p99 ms | max ms | lost | ratio to ")
        .append(baseline).append(" |\n|---|---|---|---|---|---|---|---|---|\n");
    double baselineRate = median(runs.getOrDefault(baseline, List.of()), BridgeBenchmark.Run::messagesPerSecond);
    runs.forEach((scenario, list) -> {
      double rate = median(list, BridgeBenchmark.Run::messagesPerSecond);
      md.append(String.format(Locale.ROOT, "| %s | %d | %,.0f | %,.0f-%,.0f | %.1f | %.1f | %.1f | %d | %s |%n",
          scenario, list.size(), rate,
          list.stream().mapToDouble(BridgeBenchmark.Run::messagesPerSecond).min().orElse(0),
          list.stream().mapToDouble(BridgeBenchmark.Run::messagesPerSecond).max().orElse(0),
          median(list, BridgeBenchmark.Run::p50Millis), median(list, BridgeBenchmark.Run::p99Millis),
          median(list, BridgeBenchmark.Run::maxMillis),
          list.stream().mapToLong(BridgeBenchmark.Run::lost).sum(),
          scenario.equals(baseline) || scenario.contains(" at ") || Double.isNaN(baselineRate)
              ? "-" : String.format(Locale.ROOT, "%.2f", rate / baselineRate)));
    });
    return md.toString();
  }

  /**
   * The closing section of a suite run: how long each scenario took (the suite's budget is 15
   * minutes on 2 cores), each scenario's own section above holds its figures and exact command.
   */
  public static String suiteSummary(String command, Map<String, Long> tookSeconds) {
    long total = tookSeconds.values().stream().mapToLong(Long::longValue).sum();
    StringBuilder md = new StringBuilder(header("Suite run: " + tookSeconds.size() + " scenarios", command,
        "Scenarios ran one after another in this invocation with the suite's sizes (Launcher.Bench.SUITE_SIZES)"
            + " unless given on the command line; the sections above, with the same date and git revision,"
            + " hold their figures and the exact per-scenario command."))
        .append("| scenario | took s |\n|---|---|\n");
    tookSeconds.forEach((scenario, seconds) -> md.append("| ").append(scenario).append(" | ").append(seconds).append(" |\n"));
    md.append(String.format(Locale.ROOT, "| **total** | **%d (%.1f min)** |%n", total, total / 60.0));
    return md.toString();
  }

  /** The section heading: what ran, how to run it again, on what machine, at which revision. */
  static String header(String title, String command, String notes) {
    return "\n## " + title + " (" + LocalDate.now() + ")\n\n"
        + "- Command: `" + command + "`\n"
        + "- Machine: " + Runtime.getRuntime().availableProcessors() + " cores, "
        + Runtime.getRuntime().maxMemory() / (1024 * 1024) + " MiB max heap, Java "
        + System.getProperty("java.version") + ", git " + gitRevision() + "\n"
        + "- " + notes + "\n\n";
  }

  static <T> double median(List<T> list, ToDoubleFunction<T> figure) {
    if (list.isEmpty()) {
      return Double.NaN;
    }
    List<T> sorted = new ArrayList<>(list);
    sorted.sort(Comparator.comparingDouble(figure));
    int n = sorted.size();
    return n % 2 == 1 ? figure.applyAsDouble(sorted.get(n / 2))
        : (figure.applyAsDouble(sorted.get(n / 2 - 1)) + figure.applyAsDouble(sorted.get(n / 2))) / 2;
  }

  public static void append(Path file, String markdown) throws IOException {
    if (!Files.exists(file)) {
      Files.createDirectories(file.getParent());
      Files.writeString(file, "# Benchmarks\n\nEvery section is one invocation of `./fleetplane bench`,"
          + " appended by the command itself. Figures are medians of the runs; the min-max column"
          + " shows how noisy the (shared) machine was.\n", StandardCharsets.UTF_8);
    }
    Files.writeString(file, markdown, StandardCharsets.UTF_8, StandardOpenOption.APPEND);
  }

  private static String gitRevision() {
    try {
      Process git = new ProcessBuilder("git", "rev-parse", "--short", "HEAD")
          .directory(Path.of(System.getProperty("fleetplane.home", ".")).toFile())
          .redirectErrorStream(true).start();
      String out = new String(git.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
      return git.waitFor() == 0 ? out : "unknown";
    } catch (IOException e) {
      return "unknown";
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return "unknown";
    }
  }
}
