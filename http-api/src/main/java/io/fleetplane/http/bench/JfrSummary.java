package io.fleetplane.http.bench;

import java.io.IOException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordedFrame;
import jdk.jfr.consumer.RecordingFile;

/**
 * Where the CPU went in a JFR recording, without a GUI: the methods most often on top of the
 * sampled stacks (self time), and the Fleetplane methods most often anywhere on them (total time).
 */
final class JfrSummary {

  private JfrSummary() {}

  static void printHotMethods(Path recording, int top) throws IOException {
    System.out.print(hotMethods(recording, top));
  }

  /** The same summary as text, for benchmarks that also put it in their markdown. */
  static String hotMethods(Path recording, int top) throws IOException {
    Map<String, Integer> self = new HashMap<>();
    Map<String, Integer> fleetplane = new HashMap<>();
    int samples = 0;
    for (RecordedEvent event : RecordingFile.readAllEvents(recording)) {
      if (!event.getEventType().getName().equals("jdk.ExecutionSample") || event.getStackTrace() == null
          || event.getStackTrace().getFrames().isEmpty()) {
        continue;
      }
      samples++;
      var frames = event.getStackTrace().getFrames();
      self.merge(name(frames.get(0)), 1, Integer::sum);
      frames.stream().map(JfrSummary::name).filter(n -> n.startsWith("io.fleetplane.")).distinct()
          .forEach(n -> fleetplane.merge(n, 1, Integer::sum));
    }
    StringBuilder out = new StringBuilder(String.format("  %d execution samples. Self time, top %d:%n", samples, top));
    print(out, self, samples, top);
    out.append(String.format("  Fleetplane methods on the stack (total time), top %d:%n", top));
    print(out, fleetplane, samples, top);
    return out.toString();
  }

  private static void print(StringBuilder out, Map<String, Integer> counts, int samples, int top) {
    counts.entrySet().stream().sorted(Map.Entry.<String, Integer>comparingByValue().reversed()).limit(top)
        .forEach(e -> out.append(String.format("    %5.1f%%  %s%n", 100.0 * e.getValue() / Math.max(1, samples),
            e.getKey())));
  }

  private static String name(RecordedFrame frame) {
    return frame.getMethod().getType().getName() + "." + frame.getMethod().getName();
  }
}
