package io.fleetplane.http;

import static io.fleetplane.http.NodeFixture.get;
import static io.fleetplane.http.NodeFixture.json;
import static io.fleetplane.http.ReadSideFixture.number;
import static io.fleetplane.http.ReadSideFixture.text;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import akka.actor.typed.ActorSystem;
import com.fasterxml.jackson.databind.JsonNode;
import io.fleetplane.config.ids.DeviceTopic.Channel;
import io.fleetplane.registry.DeviceSession;
import io.fleetplane.registry.domain.Liveness;
import io.fleetplane.registry.readside.DeviceReadSide;
import io.fleetplane.testkit.infra.PostgresEndpoint;
import io.fleetplane.testkit.infra.TestPostgres;
import java.net.URLEncoder;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;
import java.util.function.Predicate;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The device read side on real parts: DeviceSession entities persist to the PostgreSQL journal,
 * the projection writes the read-side tables, and the list, stats and history are called over
 * real HTTP. 30 sessions on 3 RAEs, with updates, checkpoints, disconnects and silent devices.
 */
class DeviceReadSideIT {

  private static final int SESSIONS = 30;
  private static final Duration UNKNOWN_AFTER = Duration.ofMinutes(5);

  private static PostgresEndpoint db;
  private static FleetplaneNode node;
  /** Session id -> the session actor's own state once everything is applied. */
  private static final Map<String, DeviceSession.Active> STATES = new LinkedHashMap<>();
  private static final List<String> IDS = new ArrayList<>();
  private static long events;
  private static String historySession;

  @BeforeAll
  static void start() throws Exception {
    db = TestPostgres.newSchema();
    node = ReadSideFixture.start(ReadSideFixture.nodeConfig(db, true));
    ActorSystem<?> system = node.system();
    long now = System.currentTimeMillis();
    for (int i = 0; i < SESSIONS; i++) {
      String id = UUID.randomUUID().toString();
      IDS.add(id);
      String rae = "RAE-" + (i % 3 + 1);
      int partition = i % 4;
      // Sessions i % 5 == 1 were last heard an hour ago: their liveness reads UNKNOWN.
      long heard = i % 5 == 1 ? now - Duration.ofHours(1).toMillis() : now;
      ReadSideFixture.apply(system, id, rae, Channel.UPDATE, 1000, Map.of("esn", text("ESN-" + i),
          "firmware", text(i < 15 ? "1.0" : "2.0"), "slot", number(i)), i % 2 == 0 ? "in-test" : "available",
          null, heard, partition);
      ReadSideFixture.apply(system, id, rae, Channel.UPDATE, 2000, Map.of("temp", NodeFixture.JSON.valueToTree(i * 1.5)),
          null, null, heard + 1, partition);
      events += 2;
      if (i % 7 == 3) { // a checkpoint replaces attributes and state
        ReadSideFixture.apply(system, id, rae, Channel.CHECKPOINT, 3000, Map.of("esn", text("ESN-" + i),
            "slot", number(i)), "maintenance", null, heard + 2, partition);
        events++;
      }
      if (i % 5 == 0) { // the device says it went away
        ReadSideFixture.apply(system, id, rae, Channel.CONNECTION, 4000, Map.of(), null, false, heard + 3, partition);
        events++;
      }
    }
    historySession = IDS.get(10); // update, update, checkpoint, connection
    for (String id : IDS) {
      STATES.put(id, ReadSideFixture.session(system, id));
    }
    ReadSideFixture.await("all " + events + " events projected", Duration.ofSeconds(30), ReadSideFixture.quietly(() -> {
      long[] rows = ReadSideFixture.rowCountAndAppliedSum(db);
      return rows[0] == SESSIONS && rows[1] == events;
    }));
  }

  @AfterAll
  static void stop() throws Exception {
    if (node != null) {
      ReadSideFixture.stop(node);
    }
    if (db != null) {
      TestPostgres.dropSchema(db);
    }
  }

  @Test
  void projectionRowsMatchTheSessions() throws Exception {
    for (Map.Entry<String, DeviceSession.Active> e : STATES.entrySet()) {
      ReadSideFixture.assertRowMatches(db, e.getKey(), e.getValue());
    }
    assertEquals(events, ReadSideFixture.queryLong(db,
        "SELECT current_offset::bigint FROM akka_projection_offset_store WHERE projection_name = 'device-read-side'"),
        "the offset is the journal ordering of the last event (one event per ordering here)");
  }

  @Test
  void listFiltersAgreeWithTheSessions() throws Exception {
    assertIds("?limit=500", s -> true);
    assertIds("?raeSerial=RAE-2&limit=500", s -> s.raeSerial().equals("RAE-2"));
    assertIds("?state=in-test&limit=500", s -> s.testState().orElse("").equals("in-test"));
    assertIds("?state=maintenance", s -> s.testState().orElse("").equals("maintenance"));
    for (Liveness.Connection connection : Liveness.Connection.values()) {
      assertIds("?connection=" + connection + "&limit=500", s -> liveness(s) == connection);
    }
    assertIds("?esn=ESN-7", s -> attribute(s, "esn").equals("\"ESN-7\""));
    assertIds("?attr.firmware=2.0&limit=500", s -> attribute(s, "firmware").equals("\"2.0\""));
    assertIds("?attr.slot=12", s -> attribute(s, "slot").equals("12"));
    assertIds("?raeSerial=RAE-1&connection=DISCONNECTED&attr.firmware=1.0",
        s -> s.raeSerial().equals("RAE-1") && liveness(s) == Liveness.Connection.DISCONNECTED
            && attribute(s, "firmware").equals("\"1.0\""));
    assertIds("?attr.firmware=" + enc("no such firmware"), s -> false);

    // Sanity of the data set: every filter above selects something real.
    Map<Liveness.Connection, Long> byConnection = STATES.values().stream()
        .collect(Collectors.groupingBy(DeviceReadSideIT::liveness, Collectors.counting()));
    assertEquals(Map.of(Liveness.Connection.DISCONNECTED, 6L, Liveness.Connection.UNKNOWN, 6L,
        Liveness.Connection.CONNECTED, 18L), byConnection);
  }

  @Test
  void listItemsCarryTheDeviceAndTheStatus() throws Exception {
    JsonNode page = ok("/api/v1/devices?esn=ESN-10");
    assertEquals(1, page.get("items").size());
    JsonNode item = page.get("items").get(0);
    DeviceSession.Active state = STATES.get(historySession);
    assertEquals(historySession, item.get("deviceSessionId").asText());
    assertEquals("RAE-2", item.get("raeSerial").asText());
    assertEquals("maintenance", item.get("testState").asText());
    assertEquals("DISCONNECTED", item.get("connection").asText());
    assertEquals(Set.of("esn", "slot"), fieldNames(item.get("attributes")));
    assertEquals(10, item.get("attributes").get("slot").asInt());
    assertEquals(state.appliedMessages(), item.get("appliedMessages").asLong());
    assertEquals(ReadSideFixture.micros(state.lastUpdateAt()), Instant.parse(item.get("lastUpdateAt").asText()));
    assertTrue(page.get("next").isNull());
    assertFalse(page.get("asOf").isNull(), "asOf: when the projection last stored its offset");
    assertTrue(Instant.parse(page.get("asOf").asText()).isAfter(Instant.now().minusSeconds(120)));
    assertEquals(0.0, page.get("lagSeconds").asDouble(), "caught up");
    assertEquals(0, page.get("lagEvents").asLong());
  }

  @Test
  void sortsBothWays() throws Exception {
    Comparator<String> byUpdate = Comparator.comparing((String id) -> ReadSideFixture.micros(STATES.get(id).lastUpdateAt()))
        .thenComparing(Comparator.naturalOrder());
    assertEquals(sorted(byUpdate), ids(ok("/api/v1/devices?sort=lastUpdateAt&limit=500")));
    assertEquals(sorted(byUpdate.reversed()), ids(ok("/api/v1/devices?sort=-lastUpdateAt&limit=500")));
    assertEquals(sorted(byUpdate.reversed()), ids(ok("/api/v1/devices?limit=500")), "default: newest first");
    // PostgreSQL orders UUIDs by their bytes, which is the order of their lower-case text.
    assertEquals(sorted(Comparator.naturalOrder()), ids(ok("/api/v1/devices?sort=deviceSessionId&limit=500")));
    assertEquals(sorted(Comparator.<String>naturalOrder().reversed()),
        ids(ok("/api/v1/devices?sort=-deviceSessionId&limit=500")));
    Comparator<String> byRae = Comparator.comparing((String id) -> STATES.get(id).raeSerial())
        .thenComparing(Comparator.naturalOrder());
    assertEquals(sorted(byRae.reversed()), ids(ok("/api/v1/devices?sort=-raeSerial&limit=500")));
  }

  @Test
  void cursorsPageWithoutGapsOrDuplicates() throws Exception {
    for (String query : List.of("sort=-lastUpdateAt", "sort=lastUpdateAt", "sort=deviceSessionId",
        "sort=-raeSerial", "sort=lastHeardAt", "raeSerial=RAE-3&sort=-deviceSessionId")) {
      List<String> all = ids(ok("/api/v1/devices?limit=500&" + query));
      List<String> paged = new ArrayList<>();
      String next = "/api/v1/devices?" + query + "&limit=7";
      int pages = 0;
      while (next != null) {
        JsonNode page = ok(next);
        paged.addAll(ids(page));
        assertTrue(page.get("items").size() <= 7);
        next = page.get("next").isNull() ? null : page.get("next").asText();
        assertTrue(++pages <= 10, "paging terminates");
      }
      assertEquals(all, paged, "pages of 7 concatenate to the whole list: " + query);
      assertEquals(new HashSet<>(paged).size(), paged.size(), "no duplicates: " + query);
      assertEquals((all.size() + 6) / 7, pages, "pages: " + query);
    }
  }

  @Test
  void historyListsEventsWithLineageInOrderPaged() throws Exception {
    JsonNode first = ok("/api/v1/devices/" + historySession + "/history?limit=3");
    assertEquals(3, first.get("items").size());
    JsonNode second = ok(first.get("next").asText());
    assertTrue(second.get("next").isNull(), "last page");
    List<JsonNode> items = new ArrayList<>();
    first.get("items").forEach(items::add);
    second.get("items").forEach(items::add);
    assertEquals(List.of("UPDATE", "UPDATE", "CHECKPOINT", "CONNECTION"),
        items.stream().map(i -> i.get("channel").asText()).toList());
    long previousOffset = -1;
    for (int i = 0; i < items.size(); i++) {
      JsonNode item = items.get(i);
      assertEquals(i + 1, item.get("sequenceNr").asLong());
      JsonNode lineage = item.get("lineage");
      assertEquals("fleet/rae/RAE-2/device/" + historySession + "/" + item.get("channel").asText().toLowerCase(),
          lineage.get("mqttTopic").asText());
      assertEquals(10 % 4, lineage.get("kafkaPartition").asInt());
      assertTrue(lineage.get("kafkaOffset").asLong() > previousOffset, "Kafka offsets in order");
      previousOffset = lineage.get("kafkaOffset").asLong();
      assertFalse(lineage.get("receivedAt").isNull());
    }
    assertEquals("maintenance", items.get(2).get("testState").asText());
    assertFalse(items.get(3).get("connected").asBoolean());
    assertEquals("ESN-10", items.get(0).get("attributes").get("esn").asText());
    JsonNode all = ok("/api/v1/devices/" + historySession + "/history");
    assertEquals(4, all.get("items").size());
    assertTrue(all.get("next").isNull());
  }

  @Test
  void statsCountByStateRaeAndConnection() throws Exception {
    JsonNode stats = ok("/api/v1/devices/stats");
    assertEquals(SESSIONS, stats.get("total").asLong());
    assertEquals(expectedCounts(s -> s.testState().orElse(null)), counts(stats.get("byTestState")));
    assertEquals(expectedCounts(DeviceSession.Active::raeSerial), counts(stats.get("byRaeSerial")));
    assertEquals(Map.of("RAE-1", 10L, "RAE-2", 10L, "RAE-3", 10L), counts(stats.get("byRaeSerial")));
    assertEquals(expectedCounts(s -> liveness(s).name()), counts(stats.get("byConnection")));
    assertFalse(stats.get("asOf").isNull());

    JsonNode filtered = ok("/api/v1/devices/stats?raeSerial=RAE-1");
    assertEquals(10, filtered.get("total").asLong());
    assertEquals(Map.of("RAE-1", 10L), counts(filtered.get("byRaeSerial")));
  }

  @Test
  void lagGaugeIsExported() throws Exception {
    HttpResponse<String> metrics = NodeFixture.awaitResponse(node.httpPort(), "/metrics",
        r -> r.body().contains(DeviceReadSide.METRIC_LAG_SECONDS), Duration.ofSeconds(15));
    assertTrue(metrics.body().contains(DeviceReadSide.METRIC_LAG_EVENTS), metrics.body());
  }

  @Test
  void badInputsArePreciseProblems() throws Exception {
    String cursorOfAnotherSort = ok("/api/v1/devices?sort=deviceSessionId&limit=1").get("next").asText()
        .replaceAll(".*cursor=", "");
    String devices = "/api/v1/devices";
    String history = devices + "/" + historySession + "/history";
    Object[][] cases = {
        {devices + "?color=red", "request.invalid", "color"},
        {devices + "?sort=color", "request.invalid", "sort"},
        {devices + "?limit=0", "request.invalid", "limit"},
        {devices + "?limit=501", "request.invalid", "limit"},
        {devices + "?limit=ten", "request.invalid", "limit"},
        {devices + "?cursor=not-a-cursor", "request.invalid", "cursor"},
        {devices + "?sort=-lastUpdateAt&cursor=" + cursorOfAnotherSort, "request.invalid", "cursor"},
        {devices + "?connection=MAYBE", "request.invalid", "connection"},
        {devices + "?raeSerial=" + enc("bad serial!"), "device.rae-serial-invalid", "raeSerial"},
        {devices + "?raeSerial=RAE-1&raeSerial=RAE-2", "request.invalid", "raeSerial"},
        {devices + "?attr.=x", "request.invalid", "attr."},
        {devices + "?esn=E&attr.esn=E", "request.invalid", "attr.esn"},
        {devices + "/stats?limit=5", "request.invalid", "limit"},
        {devices + "/stats?connection=connected", "request.invalid", "connection"},
        {devices + "/not-a-uuid/history", "device.session-id-invalid", "deviceSessionId"},
        {history + "?cursor=zzz", "request.invalid", "cursor"},
        {history + "?limit=1000", "request.invalid", "limit"},
        {history + "?sort=-lastUpdateAt", "request.invalid", "sort"},
    };
    for (Object[] c : cases) {
      HttpResponse<String> response = get(node.httpPort(), (String) c[0]);
      assertEquals(400, response.statusCode(), c[0] + ": " + response.body());
      assertEquals("application/problem+json", response.headers().firstValue("Content-Type").orElse(""), (String) c[0]);
      JsonNode problem = json(response);
      assertEquals(c[1], problem.get("code").asText(), c[0] + ": " + response.body());
      assertEquals(c[2], problem.get("field").asText(), c[0] + ": " + response.body());
      assertFalse(problem.get("detail").asText().isBlank());
    }
    HttpResponse<String> unknown = get(node.httpPort(), devices + "/" + UUID.randomUUID() + "/history");
    assertEquals(404, unknown.statusCode());
    assertEquals("device.not-found", json(unknown).get("code").asText());
  }

  // --- helpers ---------------------------------------------------------------------------------

  private static Liveness.Connection liveness(DeviceSession.Active s) {
    return s.liveness(Instant.now(), UNKNOWN_AFTER).connection();
  }

  private static String attribute(DeviceSession.Active s, String name) {
    DeviceSession.ReportedAttribute a = s.attributes().get(name);
    return a == null ? "" : a.value().toString();
  }

  private static void assertIds(String query, Predicate<DeviceSession.Active> expected) throws Exception {
    Set<String> want = STATES.entrySet().stream().filter(e -> expected.test(e.getValue()))
        .map(Map.Entry::getKey).collect(Collectors.toSet());
    List<String> got = ids(ok("/api/v1/devices" + query));
    assertEquals(want, new HashSet<>(got), query);
    assertEquals(got.size(), new HashSet<>(got).size(), "no duplicates: " + query);
  }

  private static JsonNode ok(String path) throws Exception {
    HttpResponse<String> response = get(node.httpPort(), path);
    assertEquals(200, response.statusCode(), path + ": " + response.body());
    return json(response);
  }

  private static List<String> ids(JsonNode page) {
    List<String> ids = new ArrayList<>();
    page.get("items").forEach(item -> ids.add(item.get("deviceSessionId").asText()));
    return ids;
  }

  private static List<String> sorted(Comparator<String> order) {
    return IDS.stream().sorted(order).toList();
  }

  private static Set<String> fieldNames(JsonNode node) {
    Set<String> names = new HashSet<>();
    node.fieldNames().forEachRemaining(names::add);
    return names;
  }

  private static Map<String, Long> expectedCounts(java.util.function.Function<DeviceSession.Active, String> key) {
    Map<String, Long> counts = new TreeMap<>(Comparator.nullsFirst(Comparator.naturalOrder()));
    STATES.values().forEach(s -> counts.merge(key.apply(s), 1L, Long::sum));
    return counts;
  }

  private static Map<String, Long> counts(JsonNode array) {
    Map<String, Long> counts = new TreeMap<>(Comparator.nullsFirst(Comparator.naturalOrder()));
    array.forEach(c -> counts.put(c.get("value").isNull() ? null : c.get("value").asText(), c.get("count").asLong()));
    return counts;
  }

  private static String enc(String text) {
    return URLEncoder.encode(text, StandardCharsets.UTF_8).replace("+", "%20");
  }
}
