package io.fleetplane.bridge.command;

import io.fleetplane.testkit.infra.EmbeddedKafka;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;

/**
 * One in-process Kafka broker for every command IT in this JVM (start-up costs ~2 s): each test
 * class isolates itself with its own topics and consumer group instead.
 */
final class SharedKafka {

  private static EmbeddedKafka kafka;

  private SharedKafka() {}

  static synchronized EmbeddedKafka get() {
    if (kafka == null) {
      QuietLogs.apply();
      try {
        kafka = EmbeddedKafka.start(0, Files.createTempDirectory("fp-commands-kafka-"));
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      EmbeddedKafka started = kafka;
      Runtime.getRuntime().addShutdownHook(new Thread(started::stop, "commands-it-kafka-stop"));
    }
    return kafka;
  }
}
