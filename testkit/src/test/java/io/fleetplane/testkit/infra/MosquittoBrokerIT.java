package io.fleetplane.testkit.infra;

import io.fleetplane.testkit.Eventually;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

import org.eclipse.paho.mqttv5.common.MqttException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MosquittoBrokerIT {

  private static final Duration WAIT = Duration.ofSeconds(10);

  @TempDir
  Path tmp;

  @Test
  void roundTripAtQos1AndCloseStopsTheProcess() throws Exception {
    MosquittoBroker broker = MosquittoBroker.start();
    try {
      assertEquals("tcp://127.0.0.1:" + broker.port(), broker.serverUri());
      LoopbackOnly.assertLoopbackOnly(broker.port());
      try (PahoV5Client subscriber = PahoV5Client.connect(broker.serverUri());
           PahoV5Client publisher = PahoV5Client.connect(broker.serverUri())) {
        assertEquals(1, subscriber.subscribe("fleet/devices/#", 1)[0]);
        publisher.publish("fleet/devices/d1/state", "online", 1);
        Eventually.await(WAIT, () -> !subscriber.received.isEmpty(), () -> "one message");
        assertEquals("online", subscriber.received.get(0).payload());
        assertEquals(1, subscriber.received.get(0).qos());
      }
    } finally {
      broker.close();
    }
    long pid = broker.pid();
    assertFalse(broker.isRunning());
    assertFalse(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false), "pid " + pid + " still alive");
    assertFalse(FreePorts.accepts("127.0.0.1", broker.port(), 500), "port still accepts connections");
  }

  @Test
  void passwordAndAclFilesAreEnforced() throws Exception {
    Path passwords = tmp.resolve("passwords");
    Process passwd = new ProcessBuilder("mosquitto_passwd", "-c", "-b", passwords.toString(), "alice", "s3cret")
        .redirectErrorStream(true).start();
    assertEquals(0, passwd.waitFor(), new String(passwd.getInputStream().readAllBytes()));
    Path acl = tmp.resolve("acl");
    Files.writeString(acl, "user alice\ntopic readwrite fleet/alice/#\n");

    try (MosquittoBroker broker = MosquittoBroker.builder()
        .allowAnonymous(false).passwordFile(passwords).aclFile(acl).start()) {
      MqttException anonymous = assertThrows(MqttException.class, () -> PahoV5Client.connect(broker.serverUri()));
      assertTrue(anonymous.getReasonCode() >= 0x80, "refused, reason " + anonymous.getReasonCode());
      assertThrows(MqttException.class, () -> PahoV5Client.connect(broker.serverUri(), "alice", "wrong"));

      try (PahoV5Client alice = PahoV5Client.connect(broker.serverUri(), "alice", "s3cret")) {
        // Mosquitto 2.0 grants any subscription and applies the ACL to each publish and delivery.
        assertEquals(1, alice.subscribe("fleet/#", 1)[0]);
        alice.publish("fleet/bob/inbox", "forbidden", 1);
        alice.publish("fleet/alice/inbox", "hello", 1);
        // One connection delivers in order: once "hello" is here, "forbidden" would be too.
        Eventually.await(WAIT, () -> alice.payloads().contains("hello"), () -> "alice's own message");
        assertEquals(List.of("hello"), alice.payloads(), "the ACL must keep alice out of fleet/bob");
      }
    }
  }

  @Test
  void machineBrokerIsReportedConsistently() throws Exception {
    Optional<String> machine = MosquittoBroker.machineBroker();
    assertEquals(FreePorts.accepts("127.0.0.1", 1883, 1000), machine.isPresent());
    if (machine.isPresent()) {
      assertEquals("tcp://127.0.0.1:1883", machine.get());
      assertEquals(machine.get(), MosquittoBroker.requireMachineBroker());
      try (PahoV5Client client = PahoV5Client.connect(machine.get())) {
        assertTrue(client.client.isConnected(), "the machine broker speaks MQTT 5");
      }
    } else {
      IllegalStateException e = assertThrows(IllegalStateException.class, MosquittoBroker::requireMachineBroker);
      assertEquals(MosquittoBroker.machineBrokerMissingMessage(), e.getMessage());
    }
    String message = MosquittoBroker.machineBrokerMissingMessage();
    assertTrue(message.contains("127.0.0.1:1883"), message);
    assertTrue(message.contains("mosquitto -d -c /etc/mosquitto/mosquitto.conf"), message);
    assertTrue(message.contains(".ci/run"), message);
  }
}
