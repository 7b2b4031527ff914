package io.fleetplane.jobs.distribution.domain;

import io.fleetplane.config.CborSerializable;
import java.util.ArrayList;
import java.util.List;

/**
 * What a distribution job was asked to do; journaled once, in {@code JobCreated}. The items are
 * not stored: {@link #items()} derives them, always the same way, from the files and recipients.
 */
public record DistributionSpec(
    List<DistributionFile> files,
    List<Recipient> recipients,
    DistributionOptions options) implements CborSerializable {

  public DistributionSpec {
    files = List.copyOf(files);
    recipients = List.copyOf(recipients);
  }

  /** One copy to make: a file for a recipient. */
  public record ItemRef(String itemId, int fileIndex, String recipientId) {}

  /**
   * Files x recipients in a fixed order, ids {@code f<fileIndex>-<recipientId>}. Deterministic so
   * a job rebuilt from its journal names every item exactly as before the crash.
   */
  public List<ItemRef> items() {
    List<ItemRef> items = new ArrayList<>(files.size() * recipients.size());
    for (int f = 0; f < files.size(); f++) {
      for (Recipient r : recipients) {
        items.add(new ItemRef(itemId(f, r.id()), f, r.id()));
      }
    }
    return items;
  }

  public static String itemId(int fileIndex, String recipientId) {
    return "f" + fileIndex + "-" + recipientId;
  }

  public int itemCount() {
    return files.size() * recipients.size();
  }

  public Recipient recipient(String recipientId) {
    return recipients.stream().filter(r -> r.id().equals(recipientId)).findFirst()
        .orElseThrow(() -> new IllegalArgumentException("no recipient " + recipientId));
  }
}
