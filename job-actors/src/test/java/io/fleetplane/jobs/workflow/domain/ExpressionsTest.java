package io.fleetplane.jobs.workflow.domain;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.time.Instant;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

class ExpressionsTest {

  private static final ObjectMapper JSON = new ObjectMapper();
  private final Expressions cel = new Expressions(new Expressions.Limits(4096, 32, 1000, 5000));

  private static JsonNode json(String s) {
    try {
      return JSON.readTree(s);
    } catch (Exception e) {
      throw new IllegalArgumentException(e);
    }
  }

  private Expressions.Scope scope() {
    return new Expressions.Scope(
        Map.of("region", json("\"eu\""), "limit", json("3")),
        Map.of("step1", json("{\"dates\": [\"a\", \"b\"], \"status\": 200}")),
        Instant.parse("2024-05-01T10:00:00Z"),
        Map.of("id", "i-1", "workflowId", "wf", "version", 2L),
        Map.of("date", json("\"2024-01-01T00:00:00Z\"")));
  }

  @Test
  void seesParamsUpstreamOutputsLoopVariablesAndTheRunsTime() {
    assertEquals(json("\"eu\""), cel.evaluate("params.region", scope()));
    assertEquals(json("[\"a\",\"b\"]"), cel.evaluate("steps.step1.dates", scope()));
    assertEquals(json("true"), cel.evaluate("steps.step1.status == 200 && size(steps.step1.dates) < params.limit",
        scope()));
    assertEquals(json("\"2024-01-01T00:00:00Z\""), cel.evaluate("date", scope()));
    assertEquals(json("2024"), cel.evaluate("now.getFullYear()", scope()));
    assertEquals(json("\"wf\""), cel.evaluate("instance.workflowId", scope()));
  }

  @Test
  void templatesSpliceOrKeepTypes() {
    assertEquals(json("[\"a\",\"b\"]"), cel.resolve(json("\"${steps.step1.dates}\""), scope()));
    assertEquals(json("\"s3://bucket/eu/2024-01-01T00:00:00Z\""),
        cel.resolve(json("\"s3://bucket/${params.region}/${date}\""), scope()));
    assertEquals(json("{\"n\": 4, \"lit\": \"x\", \"l\": [1, \"eu\"]}"),
        cel.resolve(json("{\"n\": \"${params.limit + 1}\", \"lit\": \"x\", \"l\": [1, \"${params.region}\"]}"),
            scope()));
  }

  @Test
  void timeRangeAndRange() {
    JsonNode hours = cel.evaluate(
        "timeRange(timestamp('2024-01-01T00:00:00Z'), timestamp('2024-01-01T03:00:00Z'), duration('1h'))", scope());
    assertEquals(json("[\"2024-01-01T00:00:00Z\",\"2024-01-01T01:00:00Z\",\"2024-01-01T02:00:00Z\"]"), hours);
    assertEquals(json("[0,1,2]"), cel.evaluate("range(3)", scope()));
    // Five years of hours is under the default cap (100,000) but over this test's (5,000).
    Expressions.ExpressionException tooMany = assertThrows(Expressions.ExpressionException.class,
        () -> cel.evaluate("timeRange(timestamp('2020-01-01T00:00:00Z'), timestamp('2025-01-01T00:00:00Z'),"
            + " duration('1h'))", scope()));
    assertTrue(tooMany.getMessage().contains("43848 elements"), tooMany.getMessage());
    assertEquals(43848, new Expressions(Expressions.Limits.DEFAULT).evaluate(
        "timeRange(timestamp('2020-01-01T00:00:00Z'), timestamp('2025-01-01T00:00:00Z'), duration('1h'))",
        scope()).size());
  }

  @Test
  void evaluationIsCostLimited() {
    // Each comprehension may iterate at most 1,000 times here: a nested blow-up stops early.
    Expressions.ExpressionException e = assertThrows(Expressions.ExpressionException.class,
        () -> cel.evaluate("range(2000).all(x, x >= 0)", scope()));
    assertTrue(e.getMessage().contains("1000") || e.getMessage().toLowerCase().contains("iteration"),
        e.getMessage());
    String tooLong = "1" + " + 1".repeat(2000);
    assertThrows(Expressions.ExpressionException.class, () -> cel.check(tooLong, Set.of()));
  }

  @Test
  void nothingOutsideTheDeclaredScopeResolves() {
    assertThrows(Expressions.ExpressionException.class,
        () -> cel.check("java.lang.Runtime.getRuntime()", Set.of()));
    assertThrows(Expressions.ExpressionException.class, () -> cel.check("date", Set.of()),
        "a loop variable exists only inside its loop");
    assertEquals(Set.of("date"), Set.of(cel.check("date", Set.of("date")).isEmpty() ? "date" : "x"));
    assertEquals(Set.of("a", "b"), cel.check("steps.a.x + steps['b'].y", Set.of()));
  }

  @Test
  void conditionsAreTrueOnlyForBooleanTrue() {
    assertTrue(cel.test("params.region == 'eu'", scope()));
    assertFalse(cel.test("params.region", scope()));
  }
}
