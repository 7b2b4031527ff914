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
import java.util.concurrent.ThreadLocalRandom;

/**
 * {@link DocumentStore} on a local directory: {@code <root>/<2 hex>/<64 hex>}. Writes go to a
 * temporary file first and are moved into place atomically, so a crash never leaves a partial
 * object under its final name. Shared by every node only when the directory is shared storage.
 */
public final class FileSystemDocumentStore implements DocumentStore {

  private static final Set<StandardOpenOption> NEW_FILE = Set.of(StandardOpenOption.CREATE_NEW,
      StandardOpenOption.WRITE);
  /** Copies are personal documents: readable by the node's user only, where the filesystem says so. */
  private static final FileAttribute<?>[] OWNER_ONLY =
      FileSystems.getDefault().supportedFileAttributeViews().contains("posix")
          ? new FileAttribute<?>[] {PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------"))}
          : new FileAttribute<?>[0];

  private final Path root;

  /** Directories are created on the first write, so a node that never stores a document leaves no trace. */
  public FileSystemDocumentStore(Path root) throws IOException {
    this.root = root.toAbsolutePath().normalize();
  }

  public Path root() {
    return root;
  }

  @Override
  public String put(byte[] content) throws IOException {
    String id = sha256(content);
    // An object that already exists is replaced by the same bytes rather than checked for first:
    // copies are unique, so the check almost never saved a write (and replacing heals corruption).
    writeAtomically(path(id), content);
    return id;
  }

  @Override
  public Optional<byte[]> get(String id) throws IOException {
    if (!DocumentStore.isId(id)) {
      return Optional.empty();
    }
    Optional<byte[]> content = read(path(id));
    if (content.isPresent() && !sha256(content.get()).equals(id)) {
      throw new CorruptDocumentException(id);
    }
    return content;
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
    writeAtomically(thumbnailPath(documentId), png);
  }

  @Override
  public Optional<byte[]> thumbnail(String documentId) throws IOException {
    if (!DocumentStore.isId(documentId)) {
      return Optional.empty();
    }
    return read(thumbnailPath(documentId));
  }

  /**
   * Writes to a temporary file in the target's directory and renames it into place, so a crash
   * never leaves a partial file under the final name. The temporary file is opened once, new and
   * untruncated: {@code Files.write} onto a {@code createTempFile} opened it again with O_TRUNC,
   * and ext4 flushes such a file on close, which made close the costliest step of a 10,000-copy
   * job's writes. A missing directory is created on the first write into it.
   */
  private static void writeAtomically(Path target, byte[] content) throws IOException {
    String suffix = "." + Long.toHexString(ThreadLocalRandom.current().nextLong()) + ".tmp";
    Path tmp = target.resolveSibling(target.getFileName() + suffix);
    try {
      FileChannel out;
      try {
        out = FileChannel.open(tmp, NEW_FILE, OWNER_ONLY);
      } catch (NoSuchFileException e) {
        Files.createDirectories(target.getParent());
        out = FileChannel.open(tmp, NEW_FILE, OWNER_ONLY);
      }
      try (FileChannel channel = out) {
        ByteBuffer buffer = ByteBuffer.wrap(content);
        while (buffer.hasRemaining()) {
          channel.write(buffer);
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
  }

  /** The file's bytes, or empty when there is no such file (one call, no separate existence check). */
  private static Optional<byte[]> read(Path file) throws IOException {
    try {
      return Optional.of(Files.readAllBytes(file));
    } catch (NoSuchFileException e) {
      return Optional.empty();
    }
  }

  private Path thumbnailPath(String documentId) {
    return root.resolve("thumbnails").resolve(documentId + ".png");
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
