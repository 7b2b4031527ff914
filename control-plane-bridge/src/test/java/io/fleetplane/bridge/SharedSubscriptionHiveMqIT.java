package io.fleetplane.bridge;

import io.fleetplane.testkit.infra.EmbeddedMqttBroker;

/**
 * The shared-subscription contract on HiveMQ CE. Paced and smaller: under full load HiveMQ CE stops
 * delivering to QoS 1 shared subscribers until they reconnect (hivemq-community-edition issue
 * 558, seen here too: the bridges idle with nothing in flight while messages wait in the
 * broker), and it drops what exceeds its per-client queue of 1000.
 */
class SharedSubscriptionHiveMqIT extends SharedSubscriptionContract {

  @Override
  String brokerUri() {
    return EmbeddedMqttBroker.shared().serverUri();
  }

  @Override
  long publishPauseMicros() {
    return 5_000;
  }

  @Override
  int messagesPerSession() {
    return 50;
  }

  @Override
  boolean brokerOutlivesTest() {
    return true;
  }
}
