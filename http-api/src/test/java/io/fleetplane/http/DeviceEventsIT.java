package io.fleetplane.http;

import static io.fleetplane.http.ApiAuthorizationIT.assertProblem;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.fleetplane.config.ids.DeviceTopic.Channel;
import io.fleetplane.http.auth.Scope;
import io.fleetplane.testkit.infra.PostgresEndpoint;
import io.fleetplane.testkit.infra.TestPostgres;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * GET /api/v1/devices/events over real HTTP on a whole node (in-process Kafka, a per-class
 * Mosquitto, the bridge and the registry's ingest): applied messages arrive within a second,
 * filtered by the caller's RAEs and the query's filters, and a reconnect with Last-Event-ID
 * continues exactly after the last event seen. {@link #anMqttPublishIsStreamedWithinASecondFilteredAndResumable}
 * goes the whole way (Paho -> Mosquitto -> bridge -> Kafka -> registry -> journal -> SSE); the
 * other tests hand messages to the sessions by sharding ask, as the ingest does, to pin exact orders.
 */
class DeviceEventsIT {

  private static PostgresEndpoint db;
  private static FleetplaneNode node;
  private static io.fleetplane.testkit.infra.EmbeddedKafka kafka;
  private static io.fleetplane.testkit.infra.MosquittoBroker broker;

  /** An SSE event as received. */
  record Event(String id, String type, JsonNode data) {}

  /** A connected SSE client collecting events on its own thread. */
  static final class Client implements AutoCloseable {
    final BlockingQueue<Event> events = new LinkedBlockingQueue<>();
    final HttpResponse<Stream<String>> response;

    Client(String query, String token, String lastEventId) throws Exception {
      this(node.httpPort(), query, token, lastEventId);
    }

    Client(int port, String query, String token, String lastEventId) throws Exception {
      HttpRequest.Builder request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port
          + "/api/v1/devices/events" + query)).header("Authorization", "Bearer " + token).GET();
      if (lastEventId != null) {
        request.header("Last-Event-ID", lastEventId);
      }
      response = NodeFixture.HTTP.send(request.build(), HttpResponse.BodyHandlers.ofLines());
      Thread reader = new Thread(() -> {
        String id = null;
        String type = null;
        StringBuilder data = new StringBuilder();
        try {
          for (var it = response.body().iterator(); it.hasNext(); ) {
            String line = it.next();
            if (line.isEmpty()) {
              if (data.length() > 0) {
                events.add(new Event(id, type, NodeFixture.JSON.readTree(data.toString())));
              }
              id = null;
              type = null;
              data.setLength(0);
            } else if (line.startsWith("id:")) {
              id = line.substring(3).trim();
            } else if (line.startsWith("event:")) {
              type = line.substring(6).trim();
            } else if (line.startsWith("data:")) {
              data.append(line.substring(5).trim());
            }
          }
        } catch (Exception e) {
          // closed by the test
        }
      }, "sse-reader");
      reader.setDaemon(true);
      reader.start();
    }

    Event next() throws InterruptedException {
      Event event = events.poll(10, TimeUnit.SECONDS);
      assertNotNull(event, "an event within 10 s");
      return event;
    }

    @Override
    public void close() {
      response.body().close();
    }
  }

  @BeforeAll
  static void start() throws Exception {
    db = TestPostgres.newSchema();
    kafka = NodeFixture.startKafka();
    broker = io.fleetplane.testkit.infra.MosquittoBroker.start();
    Map<String, Object> config = ReadSideFixture.nodeConfig(db, true);
    config.put("fleetplane.node.run-bridge", true);
    config.put("fleetplane.node.run-registry", true);
    config.put("fleetplane.kafka.bootstrap-servers", kafka.bootstrapServers());
    config.put("fleetplane.bridge.mqtt.server-uri", broker.serverUri());
    config.put("fleetplane.bridge.instance-id", "events-it");
    config.put("fleetplane.registry.consumer-group-id", "registry-events-it");
    node = ReadSideFixture.start(config);
    // The whole pipeline is up (bridge subscribed, ingest assigned) before any test publishes.
    NodeFixture.awaitResponse(node.httpPort(), "/health/ready", r -> r.statusCode() == 200, Duration.ofSeconds(60));
  }

  @AfterAll
  static void stop() throws Exception {
    if (node != null) {
      ReadSideFixture.stop(node);
    }
    if (kafka != null) {
      kafka.close();
    }
    if (broker != null) {
      broker.close();
    }
    if (db != null) {
      TestPostgres.dropSchema(db);
    }
  }

  private static void apply(String session, String rae, Map<String, JsonNode> attributes) throws Exception {
    ReadSideFixture.apply(node.system(), session, rae, Channel.UPDATE, System.currentTimeMillis(), attributes, null, null,
        System.currentTimeMillis(), 0);
  }

  @Test
  void eventsArriveFilteredAndResumeFromLastEventIdWithoutLoss() throws Exception {
    String a1 = UUID.randomUUID().toString();
    String a2 = UUID.randomUUID().toString();
    String b1 = UUID.randomUUID().toString();
    String onlyA = TestTokens.token(Set.of(Scope.DEVICES_READ), List.of("RAE-A"));
    String lastSeen;
    try (Client all = new Client("", onlyA, null); Client bySession = new Client("?session=" + a2, TestTokens.admin(), null);
        Client byAttribute = new Client("?attribute=temp", TestTokens.admin(), null);
        Client rae = new Client("?raeSerial=RAE-B", TestTokens.admin(), null)) {
      assertEquals(200, all.response.statusCode());
      assertEquals("text/event-stream", all.response.headers().firstValue("Content-Type").orElse(""));
      // No wait needed: the route answers (headers) only after it fixed its start at the journal's
      // newest ordering, so everything applied from here on comes after it.
      apply(b1, "RAE-B", Map.of("esn", ReadSideFixture.text("B")));
      long sent = System.nanoTime();
      apply(a1, "RAE-A", Map.of("esn", ReadSideFixture.text("A1")));
      Event first = all.next();
      long millis = (System.nanoTime() - sent) / 1_000_000;
      assertEquals(a1, first.data().get("deviceSessionId").asText(), "RAE-B's event is not shown to a RAE-A token");
      assertEquals("device", first.type());
      assertEquals("A1", first.data().get("event").get("attributes").get("esn").asText());
      assertEquals(first.id(), first.data().get("ordering").asText());
      assertTrue(millis < 1000, "seen within 1 s, took " + millis + " ms");

      assertEquals(b1, rae.next().data().get("deviceSessionId").asText());
      apply(a2, "RAE-A", Map.of("temp", ReadSideFixture.number(21)));
      assertEquals(a2, all.next().data().get("deviceSessionId").asText());
      assertEquals(a2, bySession.next().data().get("deviceSessionId").asText());
      assertEquals(a2, byAttribute.next().data().get("deviceSessionId").asText());
      lastSeen = all.events.isEmpty() ? null : "unexpected";
      assertNull(lastSeen, "nothing else for RAE-A: " + all.events);
      lastSeen = first.id();
    }
    // Disconnected after a1 (lastSeen): everything after it, in order, once.
    List<String> expected = new ArrayList<>(List.of(a2));
    for (int i = 0; i < 3; i++) {
      String s = UUID.randomUUID().toString();
      apply(s, "RAE-A", Map.of("n", ReadSideFixture.number(i)));
      apply(UUID.randomUUID().toString(), "RAE-B", Map.of("n", ReadSideFixture.number(i)));
      expected.add(s);
    }
    try (Client resumed = new Client("", onlyA, lastSeen)) {
      List<String> got = new ArrayList<>();
      long previous = Long.parseLong(lastSeen);
      for (int i = 0; i < expected.size(); i++) {
        Event e = resumed.next();
        assertTrue(Long.parseLong(e.id()) > previous, "ids increase");
        previous = Long.parseLong(e.id());
        got.add(e.data().get("deviceSessionId").asText());
      }
      assertEquals(expected, got);
      assertNull(resumed.events.poll(500, TimeUnit.MILLISECONDS), "no repeats, nothing of RAE-B");
    }
  }

  /** A device update as a device sends it: QoS 1 on its update topic, through the machine's whole pipeline. */
  private static void publish(String rae, String session, String attributesJson) throws Exception {
    NodeFixture.publish(broker.serverUri(), "fleet/rae/" + rae + "/device/" + session + "/update",
        "{\"ts\":" + System.currentTimeMillis() + ",\"attributes\":" + attributesJson + "}");
  }

  @Test
  void anMqttPublishIsStreamedWithinASecondFilteredAndResumable() throws Exception {
    String a1 = UUID.randomUUID().toString();
    String a2 = UUID.randomUUID().toString();
    String b1 = UUID.randomUUID().toString();
    String onlyA = TestTokens.token(Set.of(Scope.DEVICES_READ), List.of("RAE-M"));
    // Warm the path once (first Kafka fetch, first entity start, first journal poll are one-time costs):
    // the 1 s promise is about a running node.
    try (Client warm = new Client("?session=" + a1, TestTokens.admin(), null)) {
      publish("RAE-M", a1, "{\"warm\":true}");
      assertEquals(a1, warm.next().data().get("deviceSessionId").asText());
    }
    String lastSeen;
    try (Client mine = new Client("?attribute=temp", onlyA, null);
        Client bySession = new Client("?session=" + a2, TestTokens.admin(), null);
        Client otherRae = new Client("?raeSerial=RAE-N", TestTokens.admin(), null)) {
      publish("RAE-N", b1, "{\"temp\":1}");
      long sent = System.nanoTime();
      publish("RAE-M", a2, "{\"temp\":21}");
      Event seen = mine.next();
      long millis = (System.nanoTime() - sent) / 1_000_000;
      assertEquals(a2, seen.data().get("deviceSessionId").asText(), "RAE-N's update is not shown to a RAE-M token");
      assertEquals(21, seen.data().get("event").get("attributes").get("temp").asInt());
      assertTrue(millis < 1000, "published over MQTT -> seen on the stream within 1 s, took " + millis + " ms");
      assertEquals(a2, bySession.next().data().get("deviceSessionId").asText());
      assertEquals(b1, otherRae.next().data().get("deviceSessionId").asText());
      publish("RAE-M", a1, "{\"esn\":\"no temp\"}");
      assertNull(mine.events.poll(700, TimeUnit.MILLISECONDS), "an update without the attribute is filtered out");
      lastSeen = seen.id();
    }
    // Offline: three more MQTT updates for RAE-M (and noise of RAE-N); a reconnect gets exactly those.
    List<String> expected = new ArrayList<>();
    for (int i = 0; i < 3; i++) {
      String s = UUID.randomUUID().toString();
      publish("RAE-M", s, "{\"temp\":" + i + "}");
      publish("RAE-N", UUID.randomUUID().toString(), "{\"temp\":" + i + "}");
      expected.add(s);
    }
    try (Client resumed = new Client("?attribute=temp", onlyA, lastSeen)) {
      List<String> got = new ArrayList<>();
      for (int i = 0; i < expected.size(); i++) {
        got.add(resumed.next().data().get("deviceSessionId").asText());
      }
      // Each publish is acknowledged before the next is sent, and one session's topic keeps its
      // order, but different sessions may hash to different partitions: compare as sets, once each.
      assertEquals(new java.util.TreeSet<>(expected), new java.util.TreeSet<>(got), "every missed update, once");
      assertEquals(expected.size(), got.size());
      assertNull(resumed.events.poll(500, TimeUnit.MILLISECONDS), "no repeats, nothing of RAE-N");
    }
  }

  @Test
  void badRequestsAreProblems() throws Exception {
    String base = "/api/v1/devices/events";
    assertProblem(NodeFixture.get(node.httpPort(), base, null), 401, "auth.token-missing", "no token");
    assertProblem(NodeFixture.get(node.httpPort(), base, TestTokens.token(Set.of(Scope.JOBS_READ), List.of("*"))),
        403, "auth.scope-missing", "scope");
    assertProblem(NodeFixture.get(node.httpPort(), base + "?session=nope"), 400, "device.session-id-invalid", "session");
    assertProblem(NodeFixture.get(node.httpPort(), base + "?raeSerial=a%2Fb"), 400, "device.rae-serial-invalid", "rae");
    assertProblem(NodeFixture.get(node.httpPort(), base + "?colour=red"), 400, "request.invalid", "unknown");
    HttpResponse<String> badId = NodeFixture.HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
            + node.httpPort() + base)).header("Authorization", "Bearer " + TestTokens.admin())
        .header("Last-Event-ID", "-3").GET().build(), HttpResponse.BodyHandlers.ofString());
    assertProblem(badId, 400, "request.invalid", "Last-Event-ID");
    assertEquals("Last-Event-ID", NodeFixture.JSON.readTree(badId.body()).get("field").asText());
  }
}
