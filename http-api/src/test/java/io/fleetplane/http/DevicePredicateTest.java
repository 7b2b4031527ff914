package io.fleetplane.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.fleetplane.registry.domain.Liveness;
import io.fleetplane.registry.readside.DeviceFilter;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class DevicePredicateTest {

  private static DevicePredicate.Registration parse(String json) throws Exception {
    return DevicePredicate.parse(Json.MAPPER.readTree(json));
  }

  @Test
  void ninetyFivePercentIsExactAndNeedsAPopulation() throws Exception {
    DevicePredicate p = parse("""
        {"name": "fleet-available", "signal": "fleet.available", "match": {"testState": "available"},
         "quantifier": "fraction", "threshold": 0.95}""").predicate();
    assertFalse(p.holds(20, 18));
    assertTrue(p.holds(20, 19), "19/20 is exactly 0.95: no floating-point miss");
    assertTrue(p.holds(20, 20));
    assertFalse(p.holds(0, 0), "an empty fleet never satisfies it");
    assertFalse(p.holds(100, 94));
    assertTrue(p.holds(100, 95));
  }

  @Test
  void allMeansEveryOneOfAtLeastMinDevices() throws Exception {
    DevicePredicate p = parse("""
        {"name": "rae7-fw", "signal": "rae7.firmware", "scope": {"raeSerial": "RAE-7"},
         "match": {"attributes": {"fw": "2.1.0", "slot": 3}}, "quantifier": "all", "minDevices": 2}""").predicate();
    assertFalse(p.holds(1, 1), "below minDevices");
    assertTrue(p.holds(2, 2));
    assertFalse(p.holds(5, 4));
  }

  @Test
  void scopeAndMatchBecomeTheReadSideFiltersCanariesExcluded() throws Exception {
    DevicePredicate p = parse("""
        {"name": "n", "signal": "s", "scope": {"raeSerial": "RAE-7", "connection": "CONNECTED"},
         "match": {"testState": "idle", "attributes": {"fw": "2.1.0", "on": true}}, "quantifier": "all"}""")
        .predicate();
    DeviceFilter population = p.population();
    assertEquals(Optional.of("RAE-7"), population.raeSerial());
    assertEquals(Optional.of(Liveness.Connection.CONNECTED), population.connection());
    assertEquals(Optional.empty(), population.testState());
    assertTrue(population.attributes().isEmpty());
    assertFalse(population.includeCanary());
    DeviceFilter matching = p.matching();
    assertEquals(Optional.of("RAE-7"), matching.raeSerial());
    assertEquals(Optional.of("idle"), matching.testState());
    assertEquals(Map.of("fw", "2.1.0", "on", "true"), matching.attributes(), "text forms, as ?attr.NAME= compares");
    assertFalse(matching.includeCanary());
  }

  @Test
  void theStoredFormReadsBackEqual() throws Exception {
    DevicePredicate p = parse("""
        {"name": "n", "signal": "s", "scope": {"attributes": {"site": "x"}}, "match": {"connection": "UNKNOWN"},
         "quantifier": "fraction", "threshold": 0.5}""").predicate();
    String stored = Json.MAPPER.writeValueAsString(p);
    assertEquals(p, Json.MAPPER.readValue(stored, DevicePredicate.class));
  }

  @Test
  void signalIdsAreDeterministicPerCrossing() {
    assertEquals("predicate:abc:3", DevicePredicate.signalId("abc", 3));
  }

  @ParameterizedTest(name = "{0} -> {1}")
  @CsvSource(delimiter = '|', value = {
      "{\"signal\":\"s\",\"match\":{\"testState\":\"a\"},\"quantifier\":\"all\"}|name",
      "{\"name\":\"a b\",\"signal\":\"s\",\"match\":{\"testState\":\"a\"},\"quantifier\":\"all\"}|name",
      "{\"name\":\"n\",\"signal\":7,\"match\":{\"testState\":\"a\"},\"quantifier\":\"all\"}|signal",
      "{\"name\":\"n\",\"signal\":\"s\",\"quantifier\":\"all\"}|match",
      "{\"name\":\"n\",\"signal\":\"s\",\"match\":{},\"quantifier\":\"all\"}|match",
      "{\"name\":\"n\",\"signal\":\"s\",\"match\":[1],\"quantifier\":\"all\"}|match",
      "{\"name\":\"n\",\"signal\":\"s\",\"match\":{\"colour\":\"red\"},\"quantifier\":\"all\"}|match.colour",
      "{\"name\":\"n\",\"signal\":\"s\",\"match\":{\"connection\":\"UP\"},\"quantifier\":\"all\"}|match.connection",
      "{\"name\":\"n\",\"signal\":\"s\",\"match\":{\"testState\":\"\"},\"quantifier\":\"all\"}|match.testState",
      "{\"name\":\"n\",\"signal\":\"s\",\"match\":{\"attributes\":{\"fw\":[1]}},\"quantifier\":\"all\"}|match.attributes.fw",
      "{\"name\":\"n\",\"signal\":\"s\",\"scope\":{\"testState\":\"a\"},\"match\":{\"testState\":\"b\"},\"quantifier\":\"all\"}|match.testState",
      "{\"name\":\"n\",\"signal\":\"s\",\"match\":{\"testState\":\"a\"}}|quantifier",
      "{\"name\":\"n\",\"signal\":\"s\",\"match\":{\"testState\":\"a\"},\"quantifier\":\"most\"}|quantifier",
      "{\"name\":\"n\",\"signal\":\"s\",\"match\":{\"testState\":\"a\"},\"quantifier\":\"fraction\"}|threshold",
      "{\"name\":\"n\",\"signal\":\"s\",\"match\":{\"testState\":\"a\"},\"quantifier\":\"fraction\",\"threshold\":1.5}|threshold",
      "{\"name\":\"n\",\"signal\":\"s\",\"match\":{\"testState\":\"a\"},\"quantifier\":\"fraction\",\"threshold\":0}|threshold",
      "{\"name\":\"n\",\"signal\":\"s\",\"match\":{\"testState\":\"a\"},\"quantifier\":\"all\",\"threshold\":0.5}|threshold",
      "{\"name\":\"n\",\"signal\":\"s\",\"match\":{\"testState\":\"a\"},\"quantifier\":\"all\",\"minDevices\":0}|minDevices",
      "{\"name\":\"n\",\"signal\":\"s\",\"match\":{\"testState\":\"a\"},\"quantifier\":\"all\",\"extra\":1}|extra",
  })
  void badDefinitionsNameTheirField(String json, String field) throws Exception {
    JsonNode body = Json.MAPPER.readTree(json);
    DevicePredicate.InvalidPredicateException e = assertThrows(DevicePredicate.InvalidPredicateException.class,
        () -> DevicePredicate.parse(body));
    assertEquals("predicate.invalid", e.code());
    assertEquals(field, e.field(), e.getMessage());
  }
}
