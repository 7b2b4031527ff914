package io.fleetplane.jobs.distribution.store;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;

/**
 * {@link DocumentStore} on a local directory: {@code <root>/<2 hex>/<64 hex>}. Writes go to a
 * temporary file first and are moved into place atomically, so a crash never leaves a partial
 * object under its final name. Shared by every node only when the directory is shared storage.
 */
public final class FileSystemDocumentStore implements DocumentStore {

  private static final Set<StandardOpenOption> NEW_FILE = Set.of(StandardOpenOption.CREATE_NEW,
      StandardOpenOption.WRITE);
  private static final boolean POSIX = FileSystems.getDefault().supportedFileAttributeViews().contains("posix");

  private final Path root;
  /** Shard directories known to exist, so a write does not ask the filesystem each time. */
  private final Set<Path> createdDirectories = ConcurrentHashMap.newKeySet();

  /** Directories are created on the first write, so a node that never stores a document leaves no trace. */
  public FileSystemDocumentStore(Path root) throws IOException {
    this.root = root.toAbsolutePath().normalize();
  }

  public Path root() {
    return root;
  }

  /**
   * Writes the content to a temporary file in its final directory and renames it into place.
   * Costs per call, measured on a 10,000-copy job: directories are created once per process,
   * not checked per write; the temporary file is opened once, without truncation (ext4 flushes a
   * file on close when it was truncated with data, which made close the costliest step); and an
   * object that already exists is replaced by the same bytes instead of being checked for first
   * (copies are unique, so the check almost never saved a write).
   */
  @Override
  public String put(byte[] content) throws IOException {
    String id = sha256(content);
    Path target = path(id);
    Path dir = target.getParent();
    if (!createdDirectories.contains(dir)) {
      Files.createDirectories(dir);
      createdDirectories.add(dir);
    }
    Path tmp = dir.resolve(id + "." + Long.toHexString(ThreadLocalRandom.current().nextLong()) + ".tmp");
    try {
      try (FileChannel out = openNew(tmp)) {
        ByteBuffer buffer = ByteBuffer.wrap(content);
        while (buffer.hasRemaining()) {
          out.write(buffer);
        }
      }
      try {
        Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
      } catch (AtomicMoveNotSupportedException e) {
        Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
      }
    } catch (IOException | RuntimeException e) {
      Files.deleteIfExists(tmp);
      throw e;
    }
    return id;
  }

  @Override
  public Optional<byte[]> get(String id) throws IOException {
    if (!DocumentStore.isId(id)) {
      return Optional.empty();
    }
    Path file = path(id);
    if (!Files.exists(file)) {
      return Optional.empty();
    }
    byte[] content = Files.readAllBytes(file);
    if (!sha256(content).equals(id)) {
      throw new CorruptDocumentException(id);
    }
    return Optional.of(content);
  }

  @Override
  public boolean exists(String id) {
    return DocumentStore.isId(id) && Files.exists(path(id));
  }

  @Override
  public void putThumbnail(String documentId, byte[] png) throws IOException {
    if (!DocumentStore.isId(documentId)) {
      throw new IllegalArgumentException("not a document id: " + documentId);
    }
    Path target = root.resolve("thumbnails").resolve(documentId + ".png");
    Files.createDirectories(target.getParent());
    Path tmp = Files.createTempFile(target.getParent(), documentId, ".tmp");
    try {
      Files.write(tmp, png);
      Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    } finally {
      Files.deleteIfExists(tmp);
    }
  }

  @Override
  public Optional<byte[]> thumbnail(String documentId) throws IOException {
    if (!DocumentStore.isId(documentId)) {
      return Optional.empty();
    }
    Path file = root.resolve("thumbnails").resolve(documentId + ".png");
    return Files.exists(file) ? Optional.of(Files.readAllBytes(file)) : Optional.empty();
  }

  private static FileChannel openNew(Path file) throws IOException {
    try {
      return FileChannel.open(file, NEW_FILE, ownerOnly());
    } catch (NoSuchFileException e) {
      // The directory went away since it was created (cleaned up by hand): make it again.
      Files.createDirectories(file.getParent());
      return FileChannel.open(file, NEW_FILE, ownerOnly());
    }
  }

  /** Copies are personal documents: readable by the node's user only, where the filesystem says so. */
  private static FileAttribute<?>[] ownerOnly() {
    return POSIX
        ? new FileAttribute<?>[] {PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------"))}
        : new FileAttribute<?>[0];
  }

  /** Where an id lives on disk (tests corrupt files through it). */
  public Path path(String id) {
    return root.resolve(id.substring(0, 2)).resolve(id);
  }

  static String sha256(byte[] content) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(content));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is always available", e);
    }
  }
}
