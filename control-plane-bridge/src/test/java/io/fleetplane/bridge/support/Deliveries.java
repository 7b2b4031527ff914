package io.fleetplane.bridge.support;

import io.fleetplane.bridge.support.KafkaTopicReader.Received;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What arrived in Kafka compared with what was published: per session key, the device sequence
 * numbers in arrival order. Loss, duplicates and order are read from that.
 *
 * @param total records seen
 * @param duplicates records beyond the first of their (session, seq)
 * @param missing "session#seq" published but never seen
 * @param outOfOrder sessions whose first occurrences are not in publish order
 */
public record Deliveries(int total, int duplicates, List<String> missing, List<String> outOfOrder) {

  private static final Pattern SEQ = Pattern.compile("\"seq\":(\\d+)");

  /** Sequence numbers 0..n-1 were published, in order, for each session key of {@code published}. */
  public static Deliveries analyze(List<Received> records, Map<String, Integer> published) {
    Map<String, List<Long>> bySession = new HashMap<>();
    for (Received r : records) {
      Matcher m = SEQ.matcher(r.text());
      if (m.find()) {
        bySession.computeIfAbsent(r.key(), k -> new ArrayList<>()).add(Long.parseLong(m.group(1)));
      }
    }
    int duplicates = 0;
    List<String> missing = new ArrayList<>();
    List<String> outOfOrder = new ArrayList<>();
    for (Map.Entry<String, Integer> e : published.entrySet()) {
      List<Long> seen = bySession.getOrDefault(e.getKey(), List.of());
      Set<Long> unique = new HashSet<>();
      List<Long> firsts = new ArrayList<>();
      for (Long s : seen) {
        if (unique.add(s)) {
          firsts.add(s);
        } else {
          duplicates++;
        }
      }
      for (long s = 0; s < e.getValue(); s++) {
        if (!unique.contains(s)) {
          missing.add(e.getKey() + "#" + s);
        }
      }
      for (int i = 1; i < firsts.size(); i++) {
        if (firsts.get(i) < firsts.get(i - 1)) {
          outOfOrder.add(e.getKey() + " at " + firsts.get(i - 1) + "->" + firsts.get(i));
          break;
        }
      }
    }
    return new Deliveries(records.size(), duplicates, missing, outOfOrder);
  }

  /** Each duplicated (session, seq) with the bridge instance and offset of every copy, for diagnosis. */
  public static List<String> duplicateCopies(List<Received> records, String instanceHeader) {
    Map<String, List<String>> copies = new java.util.TreeMap<>();
    for (Received r : records) {
      Matcher m = SEQ.matcher(r.text());
      if (m.find()) {
        copies.computeIfAbsent(r.key() + "#" + m.group(1), k -> new ArrayList<>())
            .add(r.header(instanceHeader) + "@" + r.partition() + ":" + r.offset());
      }
    }
    List<String> result = new ArrayList<>();
    copies.forEach((k, v) -> {
      if (v.size() > 1) {
        result.add(k.substring(k.lastIndexOf('/') + 1) + " " + v);
      }
    });
    return result;
  }

  public String summary() {
    return "total=" + total + ", duplicates=" + duplicates + ", missing=" + missing.size()
        + (missing.isEmpty() ? "" : " (e.g. " + missing.subList(0, Math.min(5, missing.size())) + ")")
        + ", sessions out of order=" + outOfOrder.size()
        + (outOfOrder.isEmpty() ? "" : " (e.g. " + outOfOrder.subList(0, Math.min(3, outOfOrder.size())) + ")");
  }
}
