package io.fleetplane.bridge.support;

import io.fleetplane.testkit.infra.EmbeddedKafka;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.UUID;
import java.util.stream.Stream;

/**
 * One in-process Kafka broker shared by the bridge ITs of a test JVM (start-up costs seconds;
 * tests stay apart through their own topic names). A test that stops Kafka starts its own.
 */
public final class TestKafka {

  private static EmbeddedKafka shared; // guarded by TestKafka.class

  private TestKafka() {}

  public static synchronized EmbeddedKafka shared() {
    if (shared == null) {
      Path dir = tempDir("fleetplane-bridge-kafka-");
      EmbeddedKafka kafka = EmbeddedKafka.start(0, dir);
      Runtime.getRuntime().addShutdownHook(new Thread(() -> {
        kafka.stop();
        delete(dir);
      }, "bridge-it-kafka-stop"));
      shared = kafka;
    }
    return shared;
  }

  /** A fresh broker for a test that stops and restarts it; the caller stops it. */
  public static EmbeddedKafka own() {
    return EmbeddedKafka.start(0, tempDir("fleetplane-bridge-kafka-own-"));
  }

  /** Topic names unique to one test run, so tests on the shared broker never see each other. */
  public record Topics(String deviceEvents, String deadLetters) {
    public static Topics unique(String prefix) {
      String id = UUID.randomUUID().toString().substring(0, 8);
      return new Topics(prefix + "-events-" + id, prefix + "-dead-" + id);
    }
  }

  public static Path tempDir(String prefix) {
    try {
      return Files.createTempDirectory(prefix);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  public static void delete(Path dir) {
    if (dir == null || !Files.exists(dir)) {
      return;
    }
    try (Stream<Path> paths = Files.walk(dir)) {
      paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (IOException e) {
      // best effort
    }
  }
}
