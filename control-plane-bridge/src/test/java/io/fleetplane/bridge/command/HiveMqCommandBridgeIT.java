package io.fleetplane.bridge.command;

import io.fleetplane.testkit.infra.EmbeddedMqttBroker;

/** The command bridge contract on HiveMQ CE, the broker local mode embeds. */
class HiveMqCommandBridgeIT extends CommandBridgeContract {

  @Override
  protected String mqttUri() {
    QuietLogs.apply();
    return EmbeddedMqttBroker.shared().serverUri();
  }

  @Override
  protected String brokerName() {
    return "hivemq";
  }
}
