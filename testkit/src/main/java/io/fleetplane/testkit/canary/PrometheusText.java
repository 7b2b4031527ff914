package io.fleetplane.testkit.canary;

import java.util.Map;
import java.util.OptionalDouble;

/**
 * Reads figures out of Prometheus text exposition (what a node serves at {@code /metrics}),
 * without a client library: the canary needs a handful of sums, not a model of every series.
 */
public final class PrometheusText {

  private PrometheusText() {}

  /**
   * The sum over every series of {@code name} (also {@code name_total}, as counters are exported)
   * whose labels include all of {@code labels}; empty when no such series exists, so "the node
   * does not run this part" differs from zero.
   */
  public static OptionalDouble sum(String text, String name, Map<String, String> labels) {
    double sum = 0;
    boolean found = false;
    for (String line : text.split("\n")) {
      if (line.isEmpty() || line.charAt(0) == '#') {
        continue;
      }
      int brace = line.indexOf('{');
      int space = line.lastIndexOf(' ');
      if (space < 0) {
        continue;
      }
      String series = brace >= 0 && brace < space ? line.substring(0, brace) : line.substring(0, line.indexOf(' '));
      if (!series.equals(name) && !series.equals(name + "_total")) {
        continue;
      }
      if (!labels.isEmpty()) {
        String labelText = brace >= 0 ? line.substring(brace, line.indexOf('}', brace) + 1) : "";
        boolean all = labels.entrySet().stream()
            .allMatch(l -> labelText.contains(l.getKey() + "=\"" + l.getValue() + "\""));
        if (!all) {
          continue;
        }
      }
      try {
        sum += Double.parseDouble(line.substring(line.lastIndexOf(' ', line.length() - 1) + 1).trim());
        found = true;
      } catch (NumberFormatException e) {
        // A timestamped or malformed line: not one of ours.
      }
    }
    return found ? OptionalDouble.of(sum) : OptionalDouble.empty();
  }

  public static OptionalDouble sum(String text, String name) {
    return sum(text, name, Map.of());
  }
}
