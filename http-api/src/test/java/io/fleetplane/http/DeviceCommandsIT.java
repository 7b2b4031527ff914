package io.fleetplane.http;

import static io.fleetplane.http.NodeFixture.json;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.fleetplane.config.ids.DeviceSessionId;
import io.fleetplane.config.ids.RaeSerial;
import io.fleetplane.config.metrics.Metrics;
import io.fleetplane.http.auth.Scope;
import io.fleetplane.http.commands.DeviceCommands;
import io.fleetplane.testkit.device.CommandBehaviour;
import io.fleetplane.testkit.device.DeviceSimulator;
import io.fleetplane.testkit.device.ReceivedCommand;
import io.fleetplane.testkit.infra.EmbeddedKafka;
import io.fleetplane.testkit.infra.MosquittoBroker;
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
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * POST /api/v1/devices/{id}/commands end to end: a real node (sharding, journal on PostgreSQL,
 * ingest, the command bridge, the replies consumer) on in-process Kafka and a real Mosquitto,
 * with the testkit's simulated devices answering over MQTT as the protocol says.
 */
class DeviceCommandsIT {

  private static final Duration WAIT = Duration.ofSeconds(30);
  private static final RaeSerial RAE_1 = new RaeSerial("RAE-1");
  private static final RaeSerial RAE_2 = new RaeSerial("RAE-2");

  private static PostgresEndpoint db;
  private static EmbeddedKafka kafka;
  private static MosquittoBroker broker;
  private static FleetplaneNode node;
  private static final List<DeviceSimulator> devices = new ArrayList<>();

  @BeforeAll
  static void start() throws Exception {
    db = TestPostgres.newSchema();
    kafka = NodeFixture.startKafka();
    broker = MosquittoBroker.start();
    Map<String, Object> config = NodeFixture.nodeConfig(db, kafka.bootstrapServers(), broker.serverUri(), "commands-it");
    config.put("fleetplane.node.metrics.kamon-agent", false);
    config.put("fleetplane.node.commands.reply-grace", "2s");
    // One sync waiter per node, so the bound is reachable; the tests send one sync command at a time.
    config.put("fleetplane.node.commands.max-waiting", 1);
    node = NodeFixture.startNode(config);
  }

  @AfterAll
  static void stop() throws Exception {
    devices.forEach(DeviceSimulator::close);
    try {
      NodeFixture.stopAll(node, kafka, db);
    } finally {
      broker.close();
    }
  }

  /** A connected device that has reported once, so the registry knows its session and RAE. */
  private static DeviceSimulator device(RaeSerial rae, CommandBehaviour behaviour) {
    DeviceSimulator device = DeviceSimulator.builder(broker.serverUri(), rae, DeviceSessionId.random())
        .behaviour(behaviour).connect();
    devices.add(device);
    device.publishUpdate("{\"ts\":" + System.currentTimeMillis() + ",\"attributes\":{\"esn\":\"E1\"}}");
    NodeFixture.awaitResponse(node.httpPort(), "/api/v1/devices/" + device.deviceSessionId(),
        r -> r.statusCode() == 200, WAIT);
    return device;
  }

  private static String commands(DeviceSimulator device) {
    return "/api/v1/devices/" + device.deviceSessionId() + "/commands";
  }

  static HttpResponse<String> post(String path, String token, String contentType, String body) throws Exception {
    HttpRequest.Builder request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + node.httpPort() + path))
        .timeout(Duration.ofSeconds(40)).POST(HttpRequest.BodyPublishers.ofString(body));
    if (contentType != null) {
      request.header("Content-Type", contentType);
    }
    if (token != null) {
      request.header("Authorization", "Bearer " + token);
    }
    return NodeFixture.HTTP.send(request.build(), HttpResponse.BodyHandlers.ofString());
  }

  static HttpResponse<String> post(String path, String body) throws Exception {
    return post(path, TestTokens.admin(), "application/json", body);
  }

  private static void assertProblem(HttpResponse<String> response, int status, String code, String field)
      throws Exception {
    assertEquals(status, response.statusCode(), response.body());
    assertEquals("application/problem+json", response.headers().firstValue("Content-Type").orElse(""));
    JsonNode problem = json(response);
    assertEquals(code, problem.get("code").asText(), response.body());
    if (field != null) {
      assertEquals(field, problem.path("field").asText(), response.body());
    }
  }

  @Test
  void roundTripReturnsTheDevicesReply() throws Exception {
    DeviceSimulator device = device(RAE_1, CommandBehaviour.echo());
    long sent = Metrics.count(DeviceCommands.METRIC_COMMANDS, Map.of("outcome", "sent"));

    HttpResponse<String> response = post(commands(device),
        "{\"name\":\"reboot\",\"params\":{\"delaySeconds\":5},\"timeoutMs\":10000}");

    assertEquals(200, response.statusCode(), response.body());
    JsonNode body = json(response);
    assertEquals("succeeded", body.get("status").asText());
    assertEquals("reboot", body.get("name").asText());
    assertEquals(device.deviceSessionId().value(), body.get("deviceSessionId").asText());
    assertEquals("RAE-1", body.get("raeSerial").asText());
    assertEquals("device", body.at("/reply/source").asText());
    assertEquals(5, body.at("/reply/result/echo/delaySeconds").asInt(), "the device's own result: " + body);
    String commandId = body.get("commandId").asText();
    ReceivedCommand received = device.awaitCommand(c -> c.commandId().equals(commandId), WAIT);
    assertEquals("reboot", received.name());
    assertEquals(5, received.params().get("delaySeconds").asInt());
    assertTrue(Metrics.count(DeviceCommands.METRIC_COMMANDS, Map.of("outcome", "sent")) > sent);

    // The same outcome is stored: readable later, through any node.
    JsonNode stored = json(NodeFixture.awaitResponse(node.httpPort(), commands(device) + "/" + commandId,
        r -> r.statusCode() == 200 && r.body().contains("\"succeeded\""), WAIT));
    assertEquals(5, stored.at("/reply/result/echo/delaySeconds").asInt());
  }

  @Test
  void aFailingDeviceIsAnAnswerToo() throws Exception {
    DeviceSimulator device = device(RAE_1, CommandBehaviour.fail("flash.checksum-mismatch", "bad image"));
    HttpResponse<String> response = post(commands(device), "{\"name\":\"flash-firmware\"}");
    assertEquals(200, response.statusCode(), response.body());
    JsonNode body = json(response);
    assertEquals("failed", body.get("status").asText());
    assertEquals("flash.checksum-mismatch", body.at("/reply/error/code").asText());
    assertEquals("bad image", body.at("/reply/error/message").asText());
  }

  @Test
  void aSilentDeviceIsA504TimedOutWithTheCommandsLocation() throws Exception {
    DeviceSimulator device = device(RAE_1, CommandBehaviour.ignore());
    long started = System.nanoTime();

    HttpResponse<String> response = post(commands(device), "{\"name\":\"reboot\",\"timeoutMs\":1500}");

    long tookMs = Duration.ofNanos(System.nanoTime() - started).toMillis();
    assertProblem(response, 504, "command.timed-out", null);
    assertTrue(json(response).get("detail").asText().contains("async=true"), "says what to do next");
    assertTrue(tookMs >= 1500, "waited for the deadline: " + tookMs + " ms");
    String location = response.headers().firstValue("Location").orElseThrow();
    String commandId = location.substring(location.lastIndexOf('/') + 1);
    device.awaitCommand(c -> c.commandId().equals(commandId), WAIT);
    JsonNode stored = json(NodeFixture.awaitResponse(node.httpPort(), location,
        r -> r.statusCode() == 200 && r.body().contains("timed-out"), WAIT));
    assertEquals("timed-out", stored.get("status").asText());
    assertEquals("command.timed-out", stored.at("/reply/error/code").asText());
  }

  @Test
  void whenTheNodeWaitsForAsManyRepliesAsItMayTheNextSyncCommandIs503() throws Exception {
    DeviceSimulator silent = device(RAE_1, CommandBehaviour.ignore());
    DeviceSimulator other = device(RAE_1, CommandBehaviour.echo());
    CompletableFuture<HttpResponse<String>> holding = CompletableFuture.supplyAsync(() -> {
      try {
        return post(commands(silent), "{\"name\":\"reboot\",\"timeoutMs\":3000}");
      } catch (Exception e) {
        throw new IllegalStateException(e);
      }
    });
    // The device has it, so its request registered its waiter before.
    silent.awaitCommand(c -> true, WAIT);

    HttpResponse<String> refused = post(commands(other), "{\"name\":\"reboot\"}");
    HttpResponse<String> async = post(commands(other) + "?async=true", "{\"name\":\"reboot\"}");

    assertProblem(refused, 503, "command.too-many-waiting", null);
    assertTrue(refused.headers().firstValue("Retry-After").isPresent());
    assertEquals(202, async.statusCode(), "async requests hold no waiter: " + async.body());
    assertProblem(holding.get(30, TimeUnit.SECONDS), 504, "command.timed-out", null);
    String asyncId = json(async).get("commandId").asText();
    other.awaitCommand(c -> c.commandId().equals(asyncId), WAIT);
    assertEquals(1, other.receivedCommands().size(), "only the async command was sent, never the refused one");
  }

  @Test
  void asyncAnswers202ThenThePollSeesTheReply() throws Exception {
    DeviceSimulator device = device(RAE_1, CommandBehaviour.succeed(Map.of("rebooted", true))
        .delayedBy(Duration.ofMillis(500)));

    HttpResponse<String> response = post(commands(device) + "?async=true", "{\"name\":\"reboot\"}");

    assertEquals(202, response.statusCode(), response.body());
    JsonNode accepted = json(response);
    assertEquals("pending", accepted.get("status").asText());
    assertTrue(accepted.get("reply").isNull());
    String location = response.headers().firstValue("Location").orElseThrow();
    assertEquals(commands(device) + "/" + accepted.get("commandId").asText(), location);
    JsonNode done = json(NodeFixture.awaitResponse(node.httpPort(), location,
        r -> r.statusCode() == 200 && r.body().contains("\"succeeded\""), WAIT));
    assertTrue(done.at("/reply/result/rebooted").asBoolean(), done.toString());
    assertEquals(1, device.receivedCommands().size());
  }

  @Test
  void aRepeatedRequestIdNamesTheSameCommandAndIsNotSentTwice() throws Exception {
    DeviceSimulator device = device(RAE_1, CommandBehaviour.echo());
    String request = "{\"name\":\"reboot\",\"params\":{\"n\":1},\"requestId\":\"op-42\"}";

    HttpResponse<String> first = post(commands(device), request);
    HttpResponse<String> second = post(commands(device), request);
    HttpResponse<String> third = post(commands(device) + "?async=true", request);

    assertEquals(200, first.statusCode(), first.body());
    assertEquals(200, second.statusCode(), second.body());
    assertEquals(202, third.statusCode(), third.body());
    String id = json(first).get("commandId").asText();
    assertEquals(id, json(second).get("commandId").asText());
    assertEquals(id, json(third).get("commandId").asText());
    assertEquals("succeeded", json(second).get("status").asText());
    assertEquals(1, device.receivedCommands().size(), "sent once");
    assertProblem(post(commands(device), "{\"name\":\"reboot\",\"params\":{\"n\":2},\"requestId\":\"op-42\"}"),
        409, "command.request-id-conflict", "requestId");
  }

  @Test
  void tokensAreCheckedAndAnotherRaesDeviceDoesNotExist() throws Exception {
    DeviceSimulator device = device(RAE_1, CommandBehaviour.echo());
    String body = "{\"name\":\"reboot\"}";

    HttpResponse<String> noToken = post(commands(device), null, "application/json", body);
    assertProblem(noToken, 401, "auth.token-missing", null);
    assertTrue(noToken.headers().firstValue("WWW-Authenticate").isPresent());
    assertProblem(post(commands(device), TestTokens.token(Set.of(Scope.DEVICES_READ), List.of("*")),
        "application/json", body), 403, "auth.scope-missing", null);
    String otherRae = TestTokens.token(Set.of(Scope.DEVICES_WRITE, Scope.DEVICES_READ), List.of(RAE_2.value()));
    HttpResponse<String> hidden = post(commands(device), otherRae, "application/json", body);
    HttpResponse<String> unknown = post("/api/v1/devices/" + UUID.randomUUID() + "/commands", body);
    assertProblem(hidden, 404, "device.not-found", null);
    assertProblem(unknown, 404, "device.not-found", null);

    HttpResponse<String> sent = post(commands(device), TestTokens.token(Set.of(Scope.DEVICES_WRITE),
        List.of(RAE_1.value())), "application/json", body);
    assertEquals(200, sent.statusCode(), sent.body());
    String commandPath = commands(device) + "/" + json(sent).get("commandId").asText();
    assertProblem(NodeFixture.get(node.httpPort(), commandPath, null), 401, "auth.token-missing", null);
    assertProblem(NodeFixture.get(node.httpPort(), commandPath, TestTokens.token(Set.of(Scope.DEVICES_WRITE),
        List.of("*"))), 403, "auth.scope-missing", null);
    assertProblem(NodeFixture.get(node.httpPort(), commandPath, otherRae), 404, "command.not-found", null);
    assertEquals(1, device.receivedCommands().size(), "only the authorized request reached the device");
  }

  @Test
  void malformedBodiesAndIdsArePrecise400s() throws Exception {
    DeviceSimulator device = device(RAE_1, CommandBehaviour.echo());
    String path = commands(device);

    assertProblem(post(path, "{\"name\":"), 400, "request.json-malformed", null);
    assertProblem(post(path, "[1]"), 400, "request.json-malformed", null);
    assertProblem(post(path, "{\"nmae\":\"reboot\"}"), 400, "request.invalid", "nmae");
    assertProblem(post(path, "{}"), 400, "request.invalid", "name");
    assertProblem(post(path, "{\"name\":\"re boot\"}"), 400, "request.invalid", "name");
    assertProblem(post(path, "{\"name\":7}"), 400, "request.invalid", "name");
    assertProblem(post(path, "{\"name\":\"reboot\",\"params\":[1]}"), 400, "request.invalid", "params");
    assertProblem(post(path, "{\"name\":\"reboot\",\"timeoutMs\":\"soon\"}"), 400, "request.invalid", "timeoutMs");
    assertProblem(post(path, "{\"name\":\"reboot\",\"timeoutMs\":0}"), 400, "request.invalid", "timeoutMs");
    assertProblem(post(path, "{\"name\":\"reboot\",\"timeoutMs\":1500.5}"), 400, "request.invalid", "timeoutMs");
    assertProblem(post(path, "{\"name\":\"reboot\",\"requestId\":42}"), 400, "request.invalid", "requestId");
    assertProblem(post(path, "{\"name\":\"reboot\",\"timeoutMs\":86400000}"), 400, "request.invalid", "timeoutMs");
    assertProblem(post(path, "{\"name\":\"reboot\",\"requestId\":\"../etc\"}"), 400, "request.invalid", "requestId");
    assertProblem(post(path + "?async=maybe", "{\"name\":\"reboot\"}"), 400, "request.invalid", "async");
    assertProblem(post(path, TestTokens.admin(), "text/plain", "{\"name\":\"reboot\"}"), 415,
        "request.unsupported-media-type", null);
    assertProblem(post(path, "{\"name\":\"reboot\",\"params\":{\"blob\":\"" + "x".repeat(70_000) + "\"}}"), 413,
        "payload.too-large", null);
    assertProblem(post("/api/v1/devices/NOT-A-UUID/commands", "{\"name\":\"reboot\"}"), 400,
        "device.session-id-invalid", "deviceSessionId");
    assertProblem(NodeFixture.get(node.httpPort(), path + "/bad%20id"), 400, "command.id-invalid", "commandId");
    assertProblem(NodeFixture.get(node.httpPort(), path + "/" + UUID.randomUUID()), 404, "command.not-found", null);
    assertFalse(device.receivedCommands().iterator().hasNext(), "nothing invalid was sent");
  }
}
