package io.fleetplane.bridge.command;

import io.fleetplane.testkit.infra.MosquittoBroker;

/** The command bridge contract on Mosquitto 2.0, the broker production runs (anonymous here). */
class MosquittoCommandBridgeIT extends CommandBridgeContract {

  private MosquittoBroker broker;

  @Override
  protected synchronized String mqttUri() {
    if (broker == null) {
      QuietLogs.apply();
      broker = MosquittoBroker.start();
    }
    return broker.serverUri();
  }

  @Override
  protected String brokerName() {
    return "mosquitto";
  }

  @Override
  protected void afterBridgeStopped() {
    if (broker != null) {
      broker.close();
    }
  }
}
