package io.fleetplane.http;

import static io.fleetplane.http.NodeFixture.json;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.TextNode;
import io.fleetplane.config.ids.DeviceSessionId;
import io.fleetplane.config.ids.RaeSerial;
import io.fleetplane.http.commands.WorkflowCommandGateway;
import io.fleetplane.jobs.workflow.DeviceCommandGateway;
import io.fleetplane.jobs.workflow.WorkflowEngine;
import io.fleetplane.jobs.workflow.WorkflowInstance;
import io.fleetplane.jobs.workflow.WorkflowInstance.InstanceView;
import io.fleetplane.jobs.workflow.domain.InstanceStatus;
import io.fleetplane.jobs.workflow.domain.StepStatus;
import io.fleetplane.testkit.Eventually;
import io.fleetplane.testkit.device.CommandBehaviour;
import io.fleetplane.testkit.device.DeviceSimulator;
import io.fleetplane.testkit.device.ReceivedCommand;
import io.fleetplane.testkit.infra.EmbeddedKafka;
import io.fleetplane.testkit.infra.MosquittoBroker;
import io.fleetplane.testkit.infra.PostgresEndpoint;
import io.fleetplane.testkit.infra.TestPostgres;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Workflow {@code device-command} steps end to end: a real node (journal on PostgreSQL, the
 * command bridge, the replies consumer) on in-process Kafka and a real Mosquitto, with the
 * testkit's simulated devices answering over MQTT.
 */
class WorkflowDeviceCommandIT {

  private static final Duration WAIT = Duration.ofSeconds(30);
  private static final RaeSerial RAE = new RaeSerial("RAE-1");

  private static PostgresEndpoint db;
  private static EmbeddedKafka kafka;
  private static MosquittoBroker broker;
  private static FleetplaneNode node;
  private static WorkflowEngine engine;
  private static final List<DeviceSimulator> devices = new ArrayList<>();

  @BeforeAll
  static void start() throws Exception {
    db = TestPostgres.newSchema();
    kafka = NodeFixture.startKafka();
    broker = MosquittoBroker.start();
    Map<String, Object> config = NodeFixture.nodeConfig(db, kafka.bootstrapServers(), broker.serverUri(),
        "workflow-commands-it");
    config.put("fleetplane.node.metrics.kamon-agent", false);
    config.put("fleetplane.node.commands.reply-grace", "1s");
    node = NodeFixture.startNode(config);
    engine = WorkflowEngine.get(node.system());
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

  private static DeviceSimulator device(CommandBehaviour behaviour) {
    DeviceSimulator device = DeviceSimulator.builder(broker.serverUri(), RAE, DeviceSessionId.random())
        .behaviour(behaviour).connect();
    devices.add(device);
    device.publishUpdate("{\"ts\":" + System.currentTimeMillis() + ",\"attributes\":{\"esn\":\"E1\"}}");
    NodeFixture.awaitResponse(node.httpPort(), "/api/v1/devices/" + device.deviceSessionId(),
        r -> r.statusCode() == 200, WAIT);
    return device;
  }

  private static <T> T await(java.util.concurrent.CompletionStage<T> stage) throws Exception {
    return stage.toCompletableFuture().get(40, TimeUnit.SECONDS);
  }

  private static InstanceView run(String yaml, String workflowId, DeviceSimulator device) throws Exception {
    await(engine.store().create(yaml, Optional.of("it")));
    InstanceView started = await(engine.startInstance(workflowId, Optional.empty(),
        Map.of("session", TextNode.valueOf(device.deviceSessionId().value())), Optional.empty()));
    return awaitFinished(started.instanceId());
  }

  private static InstanceView awaitFinished(String instanceId) {
    InstanceView[] last = new InstanceView[1];
    Eventually.await(WAIT, () -> {
      try {
        last[0] = ((WorkflowInstance.InstanceFound) await(engine.get(instanceId))).instance();
      } catch (Exception e) {
        throw new IllegalStateException(e);
      }
      return last[0].status().terminal();
    }, () -> "instance finishes; last seen " + last[0]);
    return last[0];
  }

  private static WorkflowInstance.StepView step(InstanceView v, String id) {
    return v.steps().stream().filter(s -> s.stepId().equals(id)).findFirst().orElseThrow();
  }

  private static long commandsWithId(DeviceSimulator device, String commandId) {
    return device.receivedCommands().stream().filter(c -> c.commandId().equals(commandId)).count();
  }

  @Test
  void theStepSendsTheCommandOnceAndTheReplysFieldsBecomeItsOutputs() throws Exception {
    DeviceSimulator device = device(CommandBehaviour.echo());
    InstanceView done = run("""
        id: dc-roundtrip
        owner: it
        params: {session: ""}
        steps:
          - id: reboot
            type: device-command
            params: {deviceSessionId: "${params.session}", name: reboot, params: {delaySeconds: 5}, timeoutMs: 10000}
          - {id: after, type: noop, dependsOn: [reboot], params: {delay: "${steps.reboot.echo.delaySeconds}"}}
        """, "dc-roundtrip", device);

    assertEquals(InstanceStatus.SUCCEEDED, done.status(), done.toString());
    JsonNode outputs = step(done, "reboot").outputs();
    String commandId = WorkflowCommandGateway.commandIdFor(done.instanceId() + ":reboot:1");
    assertEquals(commandId, outputs.get("commandId").asText(), outputs.toString());
    assertEquals("succeeded", outputs.get("commandStatus").asText());
    assertEquals(5, outputs.at("/echo/delaySeconds").asInt(), "the device's result fields: " + outputs);
    assertEquals(5, step(done, "after").outputs().get("delay").asInt(), "downstream steps read them");
    ReceivedCommand received = device.awaitCommand(c -> c.commandId().equals(commandId), WAIT);
    assertEquals("reboot", received.name());
    assertEquals(5, received.params().get("delaySeconds").asInt());
    assertEquals(1, device.receivedCommands().size());
    // The command went through the API's store: it can be looked up like any other.
    JsonNode stored = json(NodeFixture.awaitResponse(node.httpPort(),
        "/api/v1/devices/" + device.deviceSessionId() + "/commands/" + commandId,
        r -> r.statusCode() == 200 && r.body().contains("\"succeeded\""), WAIT));
    assertEquals("device", stored.at("/reply/source").asText());
  }

  @Test
  void aRedeliveredDispatchWaitsForTheSameCommandInsteadOfSendingAnother() throws Exception {
    DeviceSimulator device = device(CommandBehaviour.succeed(Map.of("rebooted", true))
        .delayedBy(Duration.ofMillis(1500)));
    DeviceCommandGateway gateway = engine.deviceCommands().orElseThrow();
    String key = "instance-x:reboot:1";
    DeviceCommandGateway.CommandRequest request = new DeviceCommandGateway.CommandRequest(
        device.deviceSessionId().value(), "reboot", NodeFixture.JSON.createObjectNode(), Duration.ofSeconds(10), key);
    String commandId = WorkflowCommandGateway.commandIdFor(key);

    CompletableFuture<DeviceCommandGateway.CommandReply> first = gateway.send(request).toCompletableFuture();
    device.awaitCommand(c -> c.commandId().equals(commandId), WAIT);
    // The same attempt dispatched again (recovery after a crash) while the first is pending.
    CompletableFuture<DeviceCommandGateway.CommandReply> again = gateway.send(request).toCompletableFuture();
    DeviceCommandGateway.CommandReply a = first.get(30, TimeUnit.SECONDS);
    DeviceCommandGateway.CommandReply b = again.get(30, TimeUnit.SECONDS);
    // And once more after it was settled: answered from the store.
    DeviceCommandGateway.CommandReply c = await(gateway.send(request));

    for (DeviceCommandGateway.CommandReply reply : List.of(a, b, c)) {
      assertEquals(commandId, reply.commandId());
      assertEquals("succeeded", reply.status(), reply.toString());
      assertTrue(reply.result().get("rebooted").asBoolean(), reply.toString());
    }
    assertEquals(1, commandsWithId(device, commandId), "sent once: " + device.receivedCommands());
    assertEquals(1, device.receivedCommands().size());
  }

  @Test
  void aSilentDeviceTimesTheStepOutAndTheRetryPolicySendsANewCommandPerAttempt() throws Exception {
    DeviceSimulator device = device(CommandBehaviour.ignore());
    InstanceView done = run("""
        id: dc-timeout
        owner: it
        params: {session: ""}
        steps:
          - id: reboot
            type: device-command
            params: {deviceSessionId: "${params.session}", name: reboot, timeoutMs: 1500}
            retry: {maxAttempts: 2, backoff: 50ms, on: [platform]}
          - {id: after, type: noop, dependsOn: [reboot]}
        """, "dc-timeout", device);

    assertEquals(InstanceStatus.FAILED, done.status(), done.toString());
    WorkflowInstance.StepView reboot = step(done, "reboot");
    assertEquals(StepStatus.FAILED, reboot.status());
    assertEquals(2, reboot.attempt(), "a timeout is a platform error: retried");
    assertTrue(reboot.reason().contains("timed-out"), reboot.reason());
    assertEquals(StepStatus.CREATED, step(done, "after").status(), "downstream never ran");
    String first = WorkflowCommandGateway.commandIdFor(done.instanceId() + ":reboot:1");
    String second = WorkflowCommandGateway.commandIdFor(done.instanceId() + ":reboot:2");
    assertNotEquals(first, second);
    assertEquals(1, commandsWithId(device, first));
    assertEquals(1, commandsWithId(device, second));
  }

  @Test
  void aFailureReplyFailsTheStepAsAUserErrorWhichAPlatformOnlyPolicyDoesNotRetry() throws Exception {
    DeviceSimulator device = device(CommandBehaviour.fail("flash.checksum-mismatch", "bad image"));
    InstanceView done = run("""
        id: dc-fail
        owner: it
        params: {session: ""}
        steps:
          - id: flash
            type: device-command
            params: {deviceSessionId: "${params.session}", name: flash-firmware, timeoutMs: 10000}
            retry: {maxAttempts: 3, backoff: 50ms, on: [platform]}
        """, "dc-fail", device);

    assertEquals(InstanceStatus.FAILED, done.status(), done.toString());
    WorkflowInstance.StepView flash = step(done, "flash");
    assertEquals(1, flash.attempt(), "the device's own failure is not retried: " + flash);
    assertEquals("failed", flash.outputs().get("commandStatus").asText());
    assertEquals("flash.checksum-mismatch", flash.outputs().at("/error/code").asText());
    assertTrue(flash.reason().contains("bad image"), flash.reason());
    assertEquals(1, device.receivedCommands().size());
  }

  @Test
  void anUnknownDeviceSessionFailsTheStepWithoutSendingAnything() throws Exception {
    InstanceView done;
    await(engine.store().create("""
        id: dc-unknown
        owner: it
        steps:
          - {id: ping, type: device-command, params: {deviceSessionId: "%s", name: ping},
             retry: {maxAttempts: 3, backoff: 50ms, on: [platform]}}
        """.formatted(DeviceSessionId.random().value()), Optional.of("it")));
    InstanceView started = await(engine.startInstance("dc-unknown", Optional.empty(), Map.of(), Optional.empty()));
    done = awaitFinished(started.instanceId());
    WorkflowInstance.StepView ping = step(done, "ping");
    assertEquals(StepStatus.FAILED, ping.status());
    assertEquals(1, ping.attempt(), "refused requests are user errors: " + ping);
    assertTrue(ping.reason().contains("does not exist"), ping.reason());
  }
}
