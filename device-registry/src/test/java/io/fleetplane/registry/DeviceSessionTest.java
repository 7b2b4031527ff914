package io.fleetplane.registry;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

import akka.actor.testkit.typed.javadsl.ActorTestKit;
import akka.persistence.testkit.javadsl.EventSourcedBehaviorTestKit;
import com.fasterxml.jackson.databind.node.TextNode;
import io.fleetplane.config.ids.DeviceTopic.Channel;
import io.fleetplane.registry.DeviceSession.Active;
import io.fleetplane.registry.DeviceSession.ApplyReply;
import io.fleetplane.registry.DeviceSession.Ignored;
import io.fleetplane.registry.domain.Liveness;
import io.fleetplane.registry.domain.Liveness.Connection;
import io.fleetplane.registry.domain.DeviceMessage;
import io.fleetplane.registry.domain.Lineage;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class DeviceSessionTest {

  private static final String SESSION = "3f2b8c1e-9a4d-4e7b-8c2a-1d5e6f7a8b9c";
  private static final ActorTestKit testKit = ActorTestKit.create(
      EventSourcedBehaviorTestKit.config().withFallback(io.fleetplane.config.FleetplaneConfig.load()));

  private EventSourcedBehaviorTestKit<DeviceSession.Command, DeviceSession.Event, DeviceSession.State> session;
  private long offset;

  @BeforeEach
  void fresh() {
    session = EventSourcedBehaviorTestKit.create(testKit.system(), DeviceSession.create(SESSION));
    session.clear();
    offset = 0;
  }

  @AfterAll
  static void stop() {
    testKit.shutdownTestKit();
  }

  private EventSourcedBehaviorTestKit.CommandResultWithReply<DeviceSession.Command, DeviceSession.Event, DeviceSession.State, ApplyReply>
      send(String rae, Channel channel, long ts, Map<String, String> attributes, Boolean connected) {
    Map<String, com.fasterxml.jackson.databind.JsonNode> values = new java.util.HashMap<>();
    attributes.forEach((k, v) -> values.put(k, TextNode.valueOf(v)));
    DeviceMessage message = new DeviceMessage(channel, ts, Optional.empty(), values, Optional.empty(), Optional.ofNullable(connected));
    Lineage lineage = new Lineage("fleet/rae/" + rae + "/device/" + SESSION + "/" + channel.topicLevel(), 0, offset++, 1000);
    return session.runCommand(replyTo -> new DeviceSession.ApplyMessage(rae, message, lineage, replyTo));
  }

  @Test
  void updatesMergeAndCheckpointsReplace() {
    send("RAE-1", Channel.UPDATE, 1, Map.of("esn", "E1", "mac", "M1"), null);
    var merged = send("RAE-1", Channel.UPDATE, 2, Map.of("esn", "E2"), null);
    Active state = assertInstanceOf(Active.class, merged.state());
    assertEquals("E2", state.attributes().get("esn").value().asText());
    assertEquals("M1", state.attributes().get("mac").value().asText());
    assertEquals(1, state.attributes().get("mac").reportedAtDeviceMillis());

    var replaced = send("RAE-1", Channel.CHECKPOINT, 3, Map.of("firmware", "F1"), null);
    Active afterCheckpoint = assertInstanceOf(Active.class, replaced.state());
    assertEquals(Map.of("firmware", "F1"), Map.of("firmware", afterCheckpoint.attributes().get("firmware").value().asText()));
    assertEquals(1, afterCheckpoint.attributes().size());
  }

  @Test
  void staleMessagesAreAcknowledgedButNotPersisted() {
    send("RAE-1", Channel.UPDATE, 10, Map.of("esn", "new"), null);
    var stale = send("RAE-1", Channel.UPDATE, 9, Map.of("esn", "old"), null);
    assertEquals(new DeviceSession.Ignored("stale"), stale.reply());
    assertEquals(true, stale.hasNoEvents());
    assertEquals("new", ((Active) stale.state()).attributes().get("esn").value().asText());
  }

  @Test
  void anotherRaeCannotWriteIntoTheSession() {
    send("RAE-1", Channel.UPDATE, 1, Map.of("esn", "E1"), null);
    var other = send("RAE-2", Channel.UPDATE, 2, Map.of("esn", "evil"), null);
    assertEquals(new DeviceSession.Ignored("rae-mismatch"), other.reply());
  }

  @Test
  void connectionMessagesChangeTheConnectionAndSurviveRecovery() {
    send("RAE-1", Channel.UPDATE, 1, Map.of("esn", "E1"), null);
    send("RAE-1", Channel.CONNECTION, 2, Map.of(), true);
    var restarted = session.restart();
    Active state = assertInstanceOf(Active.class, restarted.state());
    assertEquals(Connection.CONNECTED, state.connection());
    assertEquals("E1", state.attributes().get("esn").value().asText());
    assertEquals(2, state.appliedMessages());
  }

  @Test
  void updatesCountAsHeardAndADisconnectSticksThroughSilence() {
    send("RAE-1", Channel.CONNECTION, 1, Map.of(), false);
    var afterUpdate = send("RAE-1", Channel.UPDATE, 2, Map.of("esn", "E1"), null);
    Active state = (Active) afterUpdate.state();
    assertEquals(Connection.CONNECTED, state.connection(), "talking again means connected");
    java.time.Instant heard = state.lastHeardAt();
    assertEquals(Connection.CONNECTED,
        state.liveness(heard.plusSeconds(59), java.time.Duration.ofMinutes(1)).connection());
    Liveness.Status silent = state.liveness(heard.plusSeconds(61), java.time.Duration.ofMinutes(1));
    assertEquals(Connection.UNKNOWN, silent.connection());
    assertEquals(heard.plusSeconds(60), silent.asOf(), "unknown since the silence threshold passed");

    var disconnected = send("RAE-1", Channel.CONNECTION, 3, Map.of(), false);
    assertEquals(Connection.DISCONNECTED, ((Active) disconnected.state())
        .liveness(heard.plusSeconds(3600), java.time.Duration.ofMinutes(1)).connection(),
        "a device that said goodbye stays disconnected, not unknown");
  }

  @Test
  void theBrokersLastWillMarksTheSessionDisconnectedAlthoughItsTsDatesFromTheConnect() {
    send("RAE-1", Channel.CONNECTION, 100, Map.of(), true);
    send("RAE-1", Channel.UPDATE, 200, Map.of("esn", "E1"), null);
    long willOffset = offset;
    var will = send("RAE-1", Channel.CONNECTION, 100, Map.of(), false);
    assertInstanceOf(DeviceSession.Applied.class, will.reply(), "the will is applied, not ignored as stale");
    Active state = assertInstanceOf(Active.class, will.state());
    assertEquals(Connection.DISCONNECTED, state.connection());
    assertEquals("E1", state.attributes().get("esn").value().asText(), "a will changes the connection only");
    assertEquals(200, state.lastPosition().deviceTimestampMillis(), "ordering keeps the newest ts");

    var olderUpdate = send("RAE-1", Channel.UPDATE, 150, Map.of("esn", "OLD"), null);
    assertEquals(new Ignored("stale"), olderUpdate.reply(), "the will does not reopen the door to older updates");
    offset = willOffset;
    var redelivered = send("RAE-1", Channel.CONNECTION, 100, Map.of(), false);
    assertEquals(new Ignored("stale"), redelivered.reply(), "the same will record again is a redelivery");
  }

  @Test
  void aWillOfAnEarlierConnectionDoesNotDisconnectAReconnectedDevice() {
    send("RAE-1", Channel.CONNECTION, 100, Map.of(), true);
    send("RAE-1", Channel.UPDATE, 150, Map.of("esn", "E1"), null);
    send("RAE-1", Channel.CONNECTION, 300, Map.of(), true);
    var oldWill = send("RAE-1", Channel.CONNECTION, 100, Map.of(), false);
    assertEquals(new Ignored("stale"), oldWill.reply());
    assertEquals(Connection.CONNECTED, ((Active) oldWill.state()).connection());
    assertEquals(300, ((Active) session.restart().state()).connectedSinceDeviceMillis(), "survives recovery");
  }

  @Test
  void anUnknownSessionSaysSo() {
    var result = session.<DeviceSession.GetReply>runCommand(DeviceSession.GetSession::new);
    assertEquals(new DeviceSession.SessionNotFound(SESSION), result.reply());
  }
}
