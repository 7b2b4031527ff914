package io.fleetplane.bridge.command;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.encoder.PatternLayoutEncoder;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.ConsoleAppender;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * This module has no logback-test.xml (its test resources are not ours to add), and logback's
 * default is DEBUG for everything, which buries a test's output under Kafka's. So the command
 * ITs set levels and a pattern with the MDC ids in code, unless a logback-test.xml exists.
 */
final class QuietLogs {

  private static boolean applied;

  private QuietLogs() {}

  static synchronized void apply() {
    if (applied || QuietLogs.class.getClassLoader().getResource("logback-test.xml") != null) {
      return;
    }
    applied = true;
    LoggerContext context = (LoggerContext) LoggerFactory.getILoggerFactory();
    PatternLayoutEncoder encoder = new PatternLayoutEncoder();
    encoder.setContext(context);
    encoder.setPattern("%d{HH:mm:ss.SSS} %-5level %logger{24} [%X{raeSerial} %X{deviceSessionId} "
        + "%X{commandId}] - %msg%n");
    encoder.start();
    ConsoleAppender<ILoggingEvent> console = new ConsoleAppender<>();
    console.setContext(context);
    console.setEncoder(encoder);
    console.start();
    ch.qos.logback.classic.Logger root = context.getLogger(Logger.ROOT_LOGGER_NAME);
    root.detachAndStopAllAppenders();
    root.addAppender(console);
    root.setLevel(Level.INFO);
    for (String noisy : new String[] {"org.apache.kafka", "kafka", "state.change.logger",
        "org.apache.zookeeper", "com.hivemq", "jetbrains.exodus", "oshi", "org.eclipse.paho",
        "akka", "kamon"}) {
      context.getLogger(noisy).setLevel(Level.WARN);
    }
    context.getLogger("org.apache.kafka.controller.QuorumController").setLevel(Level.ERROR);
  }
}
