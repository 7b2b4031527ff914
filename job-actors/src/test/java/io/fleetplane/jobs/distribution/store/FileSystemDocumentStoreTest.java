package io.fleetplane.jobs.distribution.store;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FileSystemDocumentStoreTest {

  @TempDir
  Path dir;

  @Test
  void storesUnderTheContentsHashAndReadsItBack() throws IOException {
    FileSystemDocumentStore store = new FileSystemDocumentStore(dir);
    byte[] content = "a recipient's copy".getBytes(StandardCharsets.UTF_8);
    String id = store.put(content);
    assertEquals(FileSystemDocumentStore.sha256(content), id);
    assertEquals(dir.resolve(id.substring(0, 2)).resolve(id), store.path(id));
    assertArrayEquals(content, store.get(id).orElseThrow());
    assertTrue(store.exists(id));
  }

  @Test
  void storingTheSameBytesAgainKeepsOneObjectAndNoTemporaryFiles() throws IOException {
    FileSystemDocumentStore store = new FileSystemDocumentStore(dir);
    byte[] content = "same bytes".getBytes(StandardCharsets.UTF_8);
    String first = store.put(content);
    String second = store.put(content);
    assertEquals(first, second);
    assertEquals(List.of(store.path(first)), files());
  }

  @Test
  void storingAgainHealsACorruptObject() throws IOException {
    FileSystemDocumentStore store = new FileSystemDocumentStore(dir);
    byte[] content = "the real content".getBytes(StandardCharsets.UTF_8);
    String id = store.put(content);
    Files.writeString(store.path(id), "tampered");
    assertThrows(DocumentStore.CorruptDocumentException.class, () -> store.get(id));
    store.put(content);
    assertArrayEquals(content, store.get(id).orElseThrow());
  }

  @Test
  void recreatesAShardDirectoryRemovedAfterItsFirstWrite() throws IOException {
    FileSystemDocumentStore store = new FileSystemDocumentStore(dir);
    byte[] first = "first".getBytes(StandardCharsets.UTF_8);
    String id = store.put(first);
    Files.delete(store.path(id));
    Files.delete(store.path(id).getParent());
    assertEquals(id, store.put(first));
    assertArrayEquals(first, store.get(id).orElseThrow());
  }

  @Test
  void objectsAreReadableByTheOwnerOnly() throws IOException {
    if (!FileSystems.getDefault().supportedFileAttributeViews().contains("posix")) {
      return; // nothing to check where the filesystem has no POSIX permissions
    }
    FileSystemDocumentStore store = new FileSystemDocumentStore(dir);
    String id = store.put("personal".getBytes(StandardCharsets.UTF_8));
    assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(store.path(id))));
  }

  @Test
  void unknownAndMalformedIdsAreAbsent() throws IOException {
    FileSystemDocumentStore store = new FileSystemDocumentStore(dir);
    assertTrue(store.get("0".repeat(64)).isEmpty());
    assertTrue(store.get("../etc/passwd").isEmpty());
    assertTrue(!store.exists("not-an-id"));
  }

  private List<Path> files() throws IOException {
    try (Stream<Path> all = Files.walk(dir)) {
      return all.filter(Files::isRegularFile).toList();
    }
  }
}
