package io.fleetplane.jobs.workflow;

import static org.junit.jupiter.api.Assertions.assertEquals;

import akka.actor.testkit.typed.javadsl.ActorTestKit;
import akka.serialization.Serialization;
import akka.serialization.SerializationExtension;
import akka.serialization.Serializers;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fleetplane.config.FleetplaneConfig;
import io.fleetplane.jobs.workflow.WorkflowInstance.Active;
import io.fleetplane.jobs.workflow.WorkflowInstance.Event;
import io.fleetplane.jobs.workflow.WorkflowInstance.StartSpec;
import io.fleetplane.jobs.workflow.domain.DefinitionParser;
import io.fleetplane.jobs.workflow.domain.Expressions;
import io.fleetplane.jobs.workflow.domain.InstanceStatus;
import io.fleetplane.jobs.workflow.domain.StepStatus;
import io.fleetplane.jobs.workflow.domain.WorkflowDefinition;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * Every journaled event, and the snapshot state (which the ITs rarely reach), survives the
 * journal's serializer (jackson-cbor behind CborSerializable) unchanged.
 */
class WorkflowSerializationTest {

  private static final ActorTestKit testKit = ActorTestKit.create(FleetplaneConfig.load());
  private static final ObjectMapper JSON = new ObjectMapper();

  @AfterAll
  static void stop() {
    testKit.shutdownTestKit();
  }

  private static Object roundTrip(Object value) {
    Serialization serialization = SerializationExtension.get(testKit.system());
    byte[] bytes = serialization.serialize(value).get();
    var serializer = serialization.findSerializerFor(value);
    assertEquals("JacksonCborSerializer", serializer.getClass().getSimpleName(), value.getClass().getName());
    return serialization.deserialize(bytes, serializer.identifier(), Serializers.manifestFor(serializer, value)).get();
  }

  @Test
  void eventsAndStateRoundTrip() throws Exception {
    WorkflowDefinition d = new DefinitionParser(new Expressions(Expressions.Limits.DEFAULT), 1000, 1000)
        .parse(Files.readString(Path.of("../examples/backfill.yaml")));
    Instant at = Instant.parse("2024-05-01T10:00:00.123Z");
    StartSpec spec = new StartSpec("backfill", 3, d.steps(), d.params(), Map.of("date", JSON.readTree("\"x\"")),
        Optional.of(new WorkflowInstance.ParentRef("p", "step2", 1, 7)), Optional.of("req-1"), at, Optional.of(java.time.Duration.ofMinutes(5)), true, false);
    List<Event> events = List.of(
        new WorkflowInstance.InstanceStarted("i-1", spec, at),
        new WorkflowInstance.StepChanged("step1", StepStatus.SUCCEEDED, 1, "noop",
            JSON.readTree("{\"dates\": [\"a\", \"b\"], \"n\": 1.5}"), null, at),
        new WorkflowInstance.StepChanged("step2", StepStatus.RETRYING, 2, "boom", null, at.plusSeconds(4), at),
        new WorkflowInstance.IterationsProgressed("step2", 1, 43800, 10, 12, List.of(1, 3), List.of(2), at),
        new WorkflowInstance.InstancePaused(at),
        new WorkflowInstance.InstanceResumed(at),
        new WorkflowInstance.InstanceRestarted("restart", at),
        new WorkflowInstance.StepGateOpened("step1", 1, "sig-1", at),
        new WorkflowInstance.InstanceFinished(InstanceStatus.FAILED, "x", at));
    WorkflowInstance.State state = new WorkflowInstance.Empty("");
    for (Event e : events) {
      assertEquals(e, roundTrip(e), e.getClass().getSimpleName());
      state = WorkflowInstance.apply(state, e);
    }
    Active active = (Active) state;
    assertEquals(active, roundTrip(active));
    assertEquals(List.of(1, 3).size() + 1, active.step("step2").loop().succeeded() + active.step("step2").loop()
        .failed());
    assertEquals(Optional.of("sig-1"), WorkflowInstance.gateSignal(active, "step1"));

    // A gated step inside a started instance's pinned DAG survives the journal too.
    WorkflowDefinition gated = new DefinitionParser(new Expressions(Expressions.Limits.DEFAULT), 1000, 1000).parse("""
        id: g
        steps:
          - {id: s, type: noop, gate: {signal: go, condition: "signal.params.x == 1", lookback: 1h}}
        """);
    var started = new WorkflowInstance.InstanceStarted("i-2", new StartSpec("g", 1, gated.steps(), Map.of(), Map.of(),
        Optional.empty(), Optional.empty(), at, Optional.empty(), false, false), at);
    assertEquals(started, roundTrip(started));

    // Steps journaled before gates existed have no "gate" field: they read as ungated.
    ObjectMapper akkaMapper = akka.serialization.jackson.JacksonObjectMapperProvider.get(testKit.system())
        .getOrCreate("jackson-cbor", Optional.empty());
    var tree = (com.fasterxml.jackson.databind.node.ObjectNode) akkaMapper.valueToTree(gated.steps().get(0));
    tree.remove("gate");
    var old = akkaMapper.treeToValue(tree, WorkflowDefinition.StepDefinition.class);
    assertEquals(Optional.empty(), old.gate());
    assertEquals("s", old.id());
    var finished = new WorkflowInstance.ChildFinished("step2", 1, 7, InstanceStatus.SUCCEEDED, null, null);
    assertEquals(finished, roundTrip(finished));
  }
}
