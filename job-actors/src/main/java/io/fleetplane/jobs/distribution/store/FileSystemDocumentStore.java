package io.fleetplane.jobs.distribution.store;

import java.io.IOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Optional;

/**
 * {@link DocumentStore} on a local directory: {@code <root>/<2 hex>/<64 hex>}. Writes go to a
 * temporary file first and are moved into place atomically, so a crash never leaves a partial
 * object under its final name. Shared by every node only when the directory is shared storage.
 */
public final class FileSystemDocumentStore implements DocumentStore {

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
    Path target = path(id);
    if (Files.exists(target)) {
      return id;
    }
    Files.createDirectories(target.getParent());
    Path tmp = Files.createTempFile(target.getParent(), id, ".tmp");
    try {
      Files.write(tmp, content);
      try {
        Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
      } catch (AtomicMoveNotSupportedException e) {
        Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
      }
    } catch (FileAlreadyExistsException e) {
      // A concurrent writer stored the same bytes: same id, same content.
    } finally {
      Files.deleteIfExists(tmp);
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
