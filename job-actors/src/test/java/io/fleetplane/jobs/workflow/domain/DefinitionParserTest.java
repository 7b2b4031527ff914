package io.fleetplane.jobs.workflow.domain;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

class DefinitionParserTest {

  private final DefinitionParser parser = new DefinitionParser(new Expressions(Expressions.Limits.DEFAULT),
      DefinitionParser.DEFAULT_MAX_STEPS, 1000);

  @Test
  void theBackfillExampleLoads() throws Exception {
    String yaml = Files.readString(Path.of("../examples/backfill.yaml"));
    WorkflowDefinition d = parser.parse(yaml);
    assertEquals("backfill", d.id());
    assertEquals("data-platform", d.owner());
    assertEquals(2, d.steps().size());
    assertEquals(3, d.totalSteps());
    var step2 = d.step("step2").orElseThrow();
    assertEquals(StepType.FOREACH, step2.type());
    assertEquals(List.of("step1"), step2.dependsOn());
    var loop = step2.foreach().orElseThrow();
    assertEquals("steps.step1.dates", loop.items());
    assertEquals("date", loop.as());
    assertEquals(10, loop.concurrency());
    assertEquals("job1", loop.steps().get(0).id());
    assertEquals(12, d.step("step1").orElseThrow().line());
  }

  @Test
  void yamlAndJsonGiveTheSameModel() {
    String yaml = """
        id: wf
        steps:
          - id: a
            type: http
            params: {url: "http://x/${params.p}"}
            retry: {maxAttempts: 3, backoff: 2s}
            timeout: 30s
          - id: b
            type: noop
            dependsOn: [a]
            if: "steps.a.status == 200"
        """;
    String json = """
        {"id": "wf", "steps": [
          {"id": "a", "type": "http", "params": {"url": "http://x/${params.p}"},
           "retry": {"maxAttempts": 3, "backoff": "2s"}, "timeout": "30s"},
          {"id": "b", "type": "noop", "dependsOn": ["a"], "if": "steps.a.status == 200"}]}
        """;
    WorkflowDefinition fromYaml = parser.parse(yaml);
    WorkflowDefinition fromJson = parser.parse(json);
    // Lines differ by format; everything else is the same.
    assertEquals(strip(fromYaml), strip(fromJson));
    assertEquals(3, fromYaml.steps().get(0).retry().maxAttempts());
    assertEquals(Duration.ofSeconds(30), fromYaml.steps().get(0).timeout().orElseThrow());
  }

  private static String strip(WorkflowDefinition d) {
    return d.toString().replaceAll("line=\\d+", "line=?");
  }

  private DefinitionError only(String yaml) {
    InvalidDefinitionException e = assertThrows(InvalidDefinitionException.class, () -> parser.parse(yaml));
    assertEquals(1, e.errors().size(), e.errors().toString());
    return e.errors().get(0);
  }

  @Test
  void aCycleNamesAStepAndItsLine() {
    DefinitionError e = only("""
        id: wf
        steps:
          - id: a
            type: noop
            dependsOn: [c]
          - id: b
            type: noop
            dependsOn: [a]
          - id: c
            type: noop
            dependsOn: [b]
        """);
    assertEquals(DefinitionError.CYCLE, e.code());
    assertEquals("a", e.stepId());
    assertEquals(3, e.line());
    assertTrue(e.message().contains("a -> c -> b -> a"), e.message());
  }

  @Test
  void unknownDependencyAndUnknownStepOutputAreUnknownReferences() {
    DefinitionError dep = only("""
        id: wf
        steps:
          - id: a
            type: noop
            dependsOn: [ghost]
        """);
    assertEquals(DefinitionError.UNKNOWN_REFERENCE, dep.code());
    assertEquals("a", dep.stepId());
    assertEquals(3, dep.line());

    DefinitionError output = only("""
        id: wf
        steps:
          - id: a
            type: noop
          - id: b
            type: noop
            params:
              x: "${steps.a.y}"
        """);
    assertEquals(DefinitionError.UNKNOWN_REFERENCE, output.code());
    assertEquals("b", output.stepId());
    assertEquals(8, output.line(), "the line of the parameter that reads it");
    assertTrue(output.message().contains("steps.a"), output.message());
  }

  @Test
  void unknownStepType() {
    DefinitionError e = only("""
        id: wf
        steps:
          - id: a
            type: teleport
        """);
    assertEquals(DefinitionError.UNKNOWN_STEP_TYPE, e.code());
    assertEquals("a", e.stepId());
    assertEquals(4, e.line());
  }

  @Test
  void badCelAndUnknownNamesInCel() {
    DefinitionError syntax = only("""
        id: wf
        steps:
          - id: a
            type: noop
            if: "params.x =="
        """);
    assertEquals(DefinitionError.BAD_EXPRESSION, syntax.code());
    assertEquals("a", syntax.stepId());
    assertEquals(5, syntax.line());

    DefinitionError unknownName = only("""
        id: wf
        steps:
          - id: a
            type: noop
            params:
              v: "${java.lang.System.exit(1)}"
        """);
    assertEquals(DefinitionError.BAD_EXPRESSION, unknownName.code());
    assertEquals(6, unknownName.line());
  }

  @Test
  void duplicateIdsNameTheFirstLine() {
    DefinitionError e = only("""
        id: wf
        steps:
          - id: a
            type: noop
          - id: a
            type: noop
        """);
    assertEquals(DefinitionError.DUPLICATE_STEP_ID, e.code());
    assertEquals("a", e.stepId());
    assertEquals(5, e.line());
    assertTrue(e.message().contains("line 3"), e.message());
  }

  @Test
  void moreStepsThanTheLimitIsRejectedCountingForeachBodies() {
    DefinitionParser small = new DefinitionParser(new Expressions(Expressions.Limits.DEFAULT), 3, 10);
    DefinitionError e = assertThrows(InvalidDefinitionException.class, () -> small.parse("""
        id: wf
        steps:
          - id: a
            type: noop
          - id: b
            type: foreach
            foreach:
              items: "range(3)"
              as: i
              steps:
                - id: c
                  type: noop
                - id: d
                  type: noop
        """)).errors().get(0);
    assertEquals(DefinitionError.TOO_MANY_STEPS, e.code());
    assertEquals(2, e.line());
    assertTrue(e.message().contains("4 steps"), e.message());

    StringBuilder big = new StringBuilder("id: wf\nsteps:\n");
    for (int i = 0; i <= DefinitionParser.DEFAULT_MAX_STEPS; i++) {
      big.append("  - {id: s").append(i).append(", type: noop}\n");
    }
    assertEquals(DefinitionError.TOO_MANY_STEPS,
        assertThrows(InvalidDefinitionException.class, () -> parser.parse(big.toString())).code());
  }

  @Test
  void foreachBodiesAreValidatedInTheirOwnScope() {
    WorkflowDefinition ok = parser.parse("""
        id: nested
        steps:
          - id: outer
            type: foreach
            foreach:
              items: "range(2)"
              as: i
              steps:
                - id: inner
                  type: foreach
                  foreach:
                    items: "range(2)"
                    as: j
                    steps:
                      - {id: leaf, type: noop, params: {cell: "${i * 10 + j}"}}
        """);
    assertEquals(3, ok.totalSteps());

    DefinitionError e = only("""
        id: nested
        steps:
          - id: outer
            type: foreach
            foreach:
              items: "range(2)"
              as: i
              steps:
                - {id: leaf, type: noop, params: {cell: "${j}"}}
        """);
    assertEquals(DefinitionError.BAD_EXPRESSION, e.code());
    assertEquals("leaf", e.stepId());
    assertEquals(9, e.line());
  }

  @Test
  void yamlSyntaxErrorsCarryTheirLine() {
    InvalidDefinitionException e = assertThrows(InvalidDefinitionException.class, () -> parser.parse("""
        id: wf
        steps:
          - id: a
            type: [noop
        """));
    assertEquals(DefinitionError.INVALID, e.code());
    assertTrue(e.errors().get(0).line() >= 4, e.errors().toString());
  }

  @Test
  void instanceLimitsParse() {
    WorkflowDefinition d = parser.parse("id: wf\ntimeout: 2h\nmaxRunningInstances: 3\nsteps: [{id: a, type: noop}]\n");
    assertEquals(Duration.ofHours(2), d.timeout().orElseThrow());
    assertEquals(3, d.maxRunningInstances().orElseThrow());
    DefinitionError e = only("id: wf\nmaxRunningInstances: 0\nsteps: [{id: a, type: noop}]\n");
    assertEquals(2, e.line());
  }

  @Test
  void typosInFieldNamesAreRejected() {
    DefinitionError e = only("""
        id: wf
        steps:
          - id: a
            type: noop
            dependOn: [b]
        """);
    assertEquals(DefinitionError.INVALID, e.code());
    assertEquals(5, e.line());
    assertTrue(e.message().contains("dependOn"), e.message());
  }

  @Test
  void aSignalStepNeedsANameAndKnowsItsParams() {
    DefinitionError missing = only("""
        id: wf
        steps:
          - {id: a, type: noop}
          - id: tell
            type: signal
            params: {signalId: "x-${instance.id}"}
        """);
    assertEquals(DefinitionError.INVALID, missing.code());
    assertEquals("tell", missing.stepId());
    assertEquals(4, missing.line());
    assertTrue(missing.message().contains("params.name"), missing.message());
    DefinitionError typo = only("""
        id: wf
        steps:
          - id: tell
            type: signal
            params:
              name: orders.ready
              parms: {a: 1}
        """);
    assertEquals("tell", typo.stepId());
    assertEquals(7, typo.line());
    assertTrue(typo.message().contains("parms"), typo.message());
    WorkflowDefinition ok = parser.parse("""
        id: wf
        params: {order: 7}
        steps:
          - id: tell
            type: signal
            params: {name: orders.ready, params: {order: "${params.order}"}}
        """);
    assertEquals(StepType.SIGNAL, ok.step("tell").orElseThrow().type());
  }

  @Test
  void aDeviceCommandStepNeedsASessionAndANameAndChecksLiteralParams() {
    DefinitionError missing = only("""
        id: wf
        steps:
          - id: reboot
            type: device-command
            params: {name: reboot}
        """);
    assertEquals(DefinitionError.INVALID, missing.code());
    assertEquals("reboot", missing.stepId());
    assertTrue(missing.message().contains("params.deviceSessionId"), missing.message());
    DefinitionError timeout = only("""
        id: wf
        steps:
          - id: reboot
            type: device-command
            params: {deviceSessionId: s, name: reboot, timeoutMs: 0}
        """);
    assertTrue(timeout.message().contains("timeoutMs"), timeout.message());
    DefinitionError typo = only("""
        id: wf
        steps:
          - id: reboot
            type: device-command
            params: {deviceSessionId: s, name: reboot, parms: {a: 1}}
        """);
    assertTrue(typo.message().contains("parms"), typo.message());
    WorkflowDefinition ok = parser.parse("""
        id: wf
        params: {session: s, wait: 5000}
        steps:
          - id: reboot
            type: device-command
            params: {deviceSessionId: "${params.session}", name: reboot, params: {delay: 5}, timeoutMs: "${params.wait}"}
        """);
    assertEquals(StepType.DEVICE_COMMAND, ok.step("reboot").orElseThrow().type());
  }

  @Test
  void gatesParseFromYamlAndJsonAlike() {
    String yaml = """
        id: wf
        params: {table: orders}
        steps:
          - {id: a, type: noop, params: {day: "2026-11-23"}}
          - id: load
            type: noop
            dependsOn: [a]
            gate:
              signal: table-landed
              condition: "signal.params.table == params.table && signal.params.date == steps.a.day"
              lookback: 2h
          - {id: open, type: noop, gate: {signal: go}}
        """;
    String json = """
        {"id": "wf", "params": {"table": "orders"}, "steps": [
          {"id": "a", "type": "noop", "params": {"day": "2026-11-23"}},
          {"id": "load", "type": "noop", "dependsOn": ["a"], "gate": {"signal": "table-landed",
           "condition": "signal.params.table == params.table && signal.params.date == steps.a.day",
           "lookback": "2h"}},
          {"id": "open", "type": "noop", "gate": {"signal": "go"}}]}
        """;
    WorkflowDefinition d = parser.parse(yaml);
    assertEquals(strip(d), strip(parser.parse(json)));
    var gate = d.step("load").orElseThrow().gate().orElseThrow();
    assertEquals("table-landed", gate.signal());
    assertEquals(Duration.ofHours(2), gate.lookback());
    assertTrue(gate.condition().orElseThrow().startsWith("signal.params.table"));
    var open = d.step("open").orElseThrow().gate().orElseThrow();
    assertEquals(java.util.Optional.empty(), open.condition());
    assertEquals(Duration.ZERO, open.lookback());
    assertEquals(java.util.Optional.empty(), d.step("a").orElseThrow().gate());
  }

  @Test
  void badGatesNameTheirStepAndLine() {
    DefinitionError noSignal = only("""
        id: wf
        steps:
          - {id: a, type: noop}
          - id: b
            type: noop
            gate: {condition: "true"}
        """);
    assertEquals(DefinitionError.INVALID, noSignal.code());
    assertEquals("b", noSignal.stepId());
    assertEquals(6, noSignal.line());
    assertTrue(noSignal.message().contains("gate.signal"), noSignal.message());

    DefinitionError typo = only("""
        id: wf
        steps:
          - id: b
            type: noop
            gate:
              signal: go
              lookbak: 1h
        """);
    assertEquals("b", typo.stepId());
    assertEquals(7, typo.line());
    assertTrue(typo.message().contains("lookbak"), typo.message());

    DefinitionError badCel = only("""
        id: wf
        steps:
          - id: b
            type: noop
            gate:
              signal: go
              condition: "signal.params.x =="
        """);
    assertEquals(DefinitionError.BAD_EXPRESSION, badCel.code());
    assertEquals("b", badCel.stepId());
    assertEquals(7, badCel.line());

    DefinitionError unknownName = only("""
        id: wf
        steps:
          - id: b
            type: noop
            gate: {signal: go, condition: "sigal.params.x == 1"}
        """);
    assertEquals(DefinitionError.BAD_EXPRESSION, unknownName.code());
    assertTrue(unknownName.message().contains("sigal"), unknownName.message());

    DefinitionError notUpstream = only("""
        id: wf
        steps:
          - {id: a, type: noop}
          - id: b
            type: noop
            gate: {signal: go, condition: "signal.params.x == steps.a.y"}
        """);
    assertEquals(DefinitionError.UNKNOWN_REFERENCE, notUpstream.code());
    assertEquals("b", notUpstream.stepId());

    DefinitionError longLookback = only("""
        id: wf
        steps:
          - {id: b, type: noop, gate: {signal: go, lookback: 40d}}
        """);
    assertTrue(longLookback.message().contains("lookback"), longLookback.message());

    DefinitionError badName = only("""
        id: wf
        steps:
          - {id: b, type: noop, gate: {signal: "no spaces"}}
        """);
    assertTrue(badName.message().contains("gate.signal"), badName.message());

    DefinitionError clash = only("""
        id: wf
        steps:
          - id: loop
            type: foreach
            foreach:
              items: "[1, 2]"
              as: signal
              steps:
                - {id: b, type: noop, gate: {signal: go}}
        """);
    assertEquals("b", clash.stepId());
    assertTrue(clash.message().contains("rename foreach.as"), clash.message());
  }

  @Test
  void runStrategiesParseAndConflictingLimitsAreRejected() {
    WorkflowDefinition last = parser.parse("id: wf\nrunStrategy: last-only\nsteps: [{id: a, type: noop}]\n");
    assertEquals(RunStrategy.LAST_ONLY, last.runStrategy());
    assertEquals(java.util.Optional.of(1), last.runLimit());
    WorkflowDefinition free = parser.parse("id: wf\nsteps: [{id: a, type: noop}]\n");
    assertEquals(RunStrategy.PARALLEL, free.runStrategy());
    assertEquals(java.util.Optional.empty(), free.runLimit());
    DefinitionError unknown = only("id: wf\nrunStrategy: newest\nsteps: [{id: a, type: noop}]\n");
    assertEquals(2, unknown.line());
    assertTrue(unknown.message().contains("first-only"), unknown.message());
    DefinitionError conflict = only("id: wf\nrunStrategy: first-only\nmaxRunningInstances: 3\n"
        + "steps: [{id: a, type: noop}]\n");
    assertEquals(3, conflict.line());
  }
}
