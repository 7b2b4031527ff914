package io.fleetplane.testkit.infra;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

/** Deletes the temporary folders the testkit created itself (never a folder a caller passed in). */
final class TempDirs {

  private TempDirs() {}

  static void deleteQuietly(Path dir) {
    if (dir == null || !Files.exists(dir)) {
      return;
    }
    try (Stream<Path> paths = Files.walk(dir)) {
      paths.sorted(Comparator.reverseOrder()).forEach(p -> {
        try {
          Files.deleteIfExists(p);
        } catch (IOException ignored) {
          // Best effort: a file still held open by a dying process is left for the OS tmp cleaner.
        }
      });
    } catch (IOException ignored) {
      // Same: best effort.
    }
  }
}
