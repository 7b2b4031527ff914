package io.fleetplane.bridge;

import io.fleetplane.testkit.infra.MosquittoBroker;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;

/** The shared-subscription contract on Mosquitto (round-robin over the group, full speed). */
class SharedSubscriptionMosquittoIT extends SharedSubscriptionContract {

  private MosquittoBroker broker;

  @BeforeEach
  void startBroker() {
    broker = MosquittoBroker.builder().configLine("max_queued_messages 0").start();
  }

  @AfterEach
  void stopBroker() {
    broker.close();
  }

  @Override
  String brokerUri() {
    return broker.serverUri();
  }

  @Override
  long publishPauseMicros() {
    return 0;
  }

  @Override
  int messagesPerSession() {
    return 100;
  }

  @Override
  boolean brokerOutlivesTest() {
    return false;
  }
}
