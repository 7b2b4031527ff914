package io.fleetplane.jobs.distribution.store;

import java.io.IOException;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * Content-addressed blobs: uploaded sources, rendered copies and thumbnails. An id is the SHA-256
 * of the content (hex), so storing the same bytes twice is one object and a retried write is
 * harmless. The filesystem implementation is the only one today; the interface is what an object
 * store (S3 and the like) would implement.
 */
public interface DocumentStore {

  Pattern ID = Pattern.compile("[0-9a-f]{64}");

  /** Stores the content (idempotent) and returns its id. */
  String put(byte[] content) throws IOException;

  /**
   * The content of an id, verified against it.
   *
   * @throws CorruptDocumentException when the stored bytes no longer hash to the id
   */
  Optional<byte[]> get(String id) throws IOException;

  boolean exists(String id) throws IOException;

  /** Keeps the page-1 thumbnail (PNG) of a source document, made once per document. */
  void putThumbnail(String documentId, byte[] png) throws IOException;

  Optional<byte[]> thumbnail(String documentId) throws IOException;

  /** Stored content that no longer matches its address: permanent, retrying cannot help. */
  final class CorruptDocumentException extends IOException {
    public CorruptDocumentException(String id) {
      super("stored document " + id + " is corrupt (its content no longer matches its SHA-256)");
    }
  }

  static boolean isId(String s) {
    return s != null && ID.matcher(s).matches();
  }
}
