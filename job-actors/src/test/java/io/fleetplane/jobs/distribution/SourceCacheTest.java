package io.fleetplane.jobs.distribution;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fleetplane.jobs.distribution.store.DocumentStore;
import io.fleetplane.jobs.distribution.store.FileSystemDocumentStore;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SourceCacheTest {

  @TempDir
  Path dir;

  private FileSystemDocumentStore files;
  private final Map<String, Integer> reads = new HashMap<>();
  private DocumentStore counting;

  @BeforeEach
  void store() throws IOException {
    files = new FileSystemDocumentStore(dir);
    counting = new DocumentStore() {
      @Override
      public String put(byte[] content) throws IOException {
        return files.put(content);
      }

      @Override
      public Optional<byte[]> get(String id) throws IOException {
        reads.merge(id, 1, Integer::sum);
        return files.get(id);
      }

      @Override
      public boolean exists(String id) {
        return files.exists(id);
      }

      @Override
      public void putThumbnail(String documentId, byte[] png) throws IOException {
        files.putThumbnail(documentId, png);
      }

      @Override
      public Optional<byte[]> thumbnail(String documentId) throws IOException {
        return files.thumbnail(documentId);
      }
    };
  }

  @Test
  void readsEachSourceOnceWhileItFits() throws IOException {
    String a = files.put(bytes(100, 'a'));
    SourceCache cache = new SourceCache(counting, 1_000);
    for (int i = 0; i < 5; i++) {
      assertArrayEquals(bytes(100, 'a'), cache.get(a).orElseThrow());
    }
    assertEquals(1, reads.get(a));
    assertEquals(100, cache.bytes());
  }

  @Test
  void evictsTheLeastRecentlyUsedBeyondItsBound() throws IOException {
    String a = files.put(bytes(400, 'a'));
    String b = files.put(bytes(400, 'b'));
    String c = files.put(bytes(400, 'c'));
    SourceCache cache = new SourceCache(counting, 1_000);
    cache.get(a);
    cache.get(b);
    cache.get(a); // a is now more recent than b
    cache.get(c); // 1,200 bytes: b goes
    assertEquals(2, cache.size());
    assertEquals(800, cache.bytes());
    cache.get(a);
    cache.get(c);
    assertEquals(1, reads.get(a));
    assertEquals(1, reads.get(c));
    cache.get(b);
    assertEquals(2, reads.get(b), "b was evicted, so it is read again");
  }

  @Test
  void neverKeepsASourceLargerThanItsBound() throws IOException {
    String big = files.put(bytes(2_000, 'x'));
    SourceCache cache = new SourceCache(counting, 1_000);
    cache.get(big);
    cache.get(big);
    assertEquals(2, reads.get(big));
    assertEquals(0, cache.bytes());
  }

  @Test
  void aMissingSourceIsNotRememberedAsMissing() throws IOException {
    byte[] content = bytes(10, 'm');
    String id = idOf(content);
    SourceCache cache = new SourceCache(counting, 1_000);
    assertTrue(cache.get(id).isEmpty());
    files.put(content);
    assertArrayEquals(content, cache.get(id).orElseThrow(), "stored later, found then");
  }

  @Test
  void aCorruptSourceFailsAndIsNotCached() throws IOException {
    String id = files.put(bytes(50, 'c'));
    Files.write(files.path(id), bytes(50, 'X'));
    SourceCache cache = new SourceCache(counting, 1_000);
    assertThrows(DocumentStore.CorruptDocumentException.class, () -> cache.get(id));
    assertThrows(DocumentStore.CorruptDocumentException.class, () -> cache.get(id));
    assertEquals(0, cache.size());
  }

  private static byte[] bytes(int n, char c) {
    byte[] b = new byte[n];
    java.util.Arrays.fill(b, (byte) c);
    return b;
  }

  /** The id the store gives a content: its SHA-256, hex. */
  private static String idOf(byte[] content) throws IOException {
    try {
      return java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256").digest(content));
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new IOException(e);
    }
  }
}
