package io.fleetplane.testkit.infra;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.stream.Stream;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Makes a PostgreSQL data directory usable by the embedded server when this JVM runs as root.
 *
 * <p>Why this exists: PostgreSQL refuses to run as root, so zonky starts {@code initdb} and
 * {@code postgres} through {@code unshare -U}, in a new user namespace without a uid mapping
 * (they see themselves as {@code nobody}). The processes keep kernel uid 0 but lose root's
 * capabilities, so plain permission bits apply to them: a data directory owned by root works
 * (owner bits), but one owned by another user fails with {@code initdb: error: could not access
 * directory ...: Permission denied}, and so does any parent directory uid 0 may not traverse
 * without privileges. Measured on this machine with zonky 2.2.2 / PostgreSQL 17.7.
 *
 * <p>So, as root only: a data directory owned by someone else is handed to root (it is the
 * server's own directory), and an untraversable parent is reported with what to do, because
 * changing permissions of a directory we do not own is not ours to decide.
 */
final class PostgresDirs {

  private static final Logger log = LoggerFactory.getLogger(PostgresDirs.class);
  private static final int ROOT = 0;
  private static final int OWNER_X = 0100;
  private static final int GROUP_X = 0010;
  private static final int OTHER_X = 0001;

  private PostgresDirs() {}

  /** {@code dataDir} must exist already. No-op unless this JVM runs as root on a POSIX system. */
  static void prepareForServerUser(Path dataDir) throws IOException {
    if (!runningAsRoot()) {
      return;
    }
    Path dir = dataDir.toAbsolutePath();
    for (Path parent = dir.getParent(); parent != null; parent = parent.getParent()) {
      if (!traversableWithoutPrivileges(parent)) {
        throw new IllegalStateException("The embedded PostgreSQL cannot reach its data dir " + dir
            + ": it runs without root privileges (zonky uses `unshare -U` when the JVM is root) and"
            + " may not enter " + parent + " (owner uid " + attr(parent, "uid") + ", mode "
            + Integer.toOctalString(attr(parent, "mode") & 07777) + "). Put the data dir under a "
            + "directory owned by root (e.g. /var/lib/fleetplane), or `chmod o+x " + parent + "`.");
      }
    }
    if (attr(dir, "uid") != ROOT) {
      log.warn("Data dir {} is owned by uid {}; handing it to root so the embedded PostgreSQL "
          + "(run by zonky without root privileges) can use it", dir, attr(dir, "uid"));
      try (Stream<Path> paths = Files.walk(dir)) {
        paths.forEach(PostgresDirs::chownToRoot);
      }
    }
  }

  private static boolean traversableWithoutPrivileges(Path dir) throws IOException {
    int mode = attr(dir, "mode");
    if (attr(dir, "uid") == ROOT) {
      return (mode & OWNER_X) != 0;
    }
    if (attr(dir, "gid") == ROOT) {
      return (mode & GROUP_X) != 0;
    }
    return (mode & OTHER_X) != 0;
  }

  private static void chownToRoot(Path p) {
    try {
      Files.setAttribute(p, "unix:uid", ROOT, LinkOption.NOFOLLOW_LINKS);
      Files.setAttribute(p, "unix:gid", ROOT, LinkOption.NOFOLLOW_LINKS);
    } catch (IOException e) {
      throw new UncheckedIOException("Could not chown " + p + " to root for the embedded PostgreSQL", e);
    }
  }

  private static int attr(Path p, String name) throws IOException {
    return (Integer) Files.getAttribute(p, "unix:" + name);
  }

  static boolean runningAsRoot() {
    try {
      // /proc/self belongs to the effective uid of this process.
      return attr(Path.of("/proc/self"), "uid") == ROOT;
    } catch (IOException | UnsupportedOperationException | IllegalArgumentException e) {
      return false; // not Linux: zonky does not use unshare there either
    }
  }
}
