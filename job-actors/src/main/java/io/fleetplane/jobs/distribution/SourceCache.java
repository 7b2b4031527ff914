package io.fleetplane.jobs.distribution;

import io.fleetplane.jobs.distribution.store.DocumentStore;
import java.io.IOException;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * The source PDFs of running jobs, kept in memory once read and verified. A job renders every
 * source once per recipient (10,000 copies of 10 files read each file 1,000 times), and reading
 * it means a file open, read and SHA-256 check per copy. Ids are content hashes, so an entry can
 * never be stale. Bounded by total bytes, least recently used out first; a source larger than
 * the bound is read from the store each time.
 */
final class SourceCache {

  private final DocumentStore store;
  private final long maxBytes;
  private final LinkedHashMap<String, byte[]> entries = new LinkedHashMap<>(16, 0.75f, true);
  private long bytes;

  SourceCache(DocumentStore store, long maxBytes) {
    this.store = store;
    this.maxBytes = maxBytes;
  }

  /** The verified content of a source, as {@link DocumentStore#get} gives it. */
  Optional<byte[]> get(String documentId) throws IOException {
    synchronized (this) {
      byte[] cached = entries.get(documentId);
      if (cached != null) {
        return Optional.of(cached);
      }
    }
    // Read outside the lock: two threads may read the same source once each, which is harmless.
    Optional<byte[]> read = store.get(documentId);
    read.ifPresent(content -> keep(documentId, content));
    return read;
  }

  private synchronized void keep(String documentId, byte[] content) {
    if (content.length > maxBytes || entries.containsKey(documentId)) {
      return;
    }
    entries.put(documentId, content);
    bytes += content.length;
    Iterator<Map.Entry<String, byte[]>> eldest = entries.entrySet().iterator();
    while (bytes > maxBytes && eldest.hasNext()) {
      bytes -= eldest.next().getValue().length;
      eldest.remove();
    }
  }

  synchronized long bytes() {
    return bytes;
  }

  synchronized int size() {
    return entries.size();
  }
}
