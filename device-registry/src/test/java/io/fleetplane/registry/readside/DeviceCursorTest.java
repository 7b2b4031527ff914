package io.fleetplane.registry.readside;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import io.fleetplane.registry.domain.Liveness;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import org.junit.jupiter.api.Test;

class DeviceCursorTest {

  private static final String ID = UUID.randomUUID().toString();
  private static final DeviceFilter RAE_1 = DeviceFilter.of(Optional.of("RAE-1"), Optional.empty(), Optional.empty(), Map.of());

  @Test
  void roundTripsAndFitsTheQueryThatIssuedIt() {
    DeviceCursor cursor = new DeviceCursor("-lastUpdateAt", RAE_1.fingerprint(), "2026-11-23T07:46:47.344475Z", ID);
    DeviceCursor decoded = DeviceCursor.decode(cursor.encode());
    assertEquals(cursor, decoded);
    new DeviceQuery(RAE_1, DeviceSort.parse("-lastUpdateAt").orElseThrow(), 10, Optional.of(decoded));
  }

  @Test
  void aCursorOfAnotherSortOrFilterIsRefused() {
    DeviceCursor cursor = new DeviceCursor("-lastUpdateAt", RAE_1.fingerprint(), "2026-11-23T07:46:47Z", ID);
    InvalidQueryException otherSort = assertThrows(InvalidQueryException.class, () ->
        new DeviceQuery(RAE_1, DeviceSort.parse("lastUpdateAt").orElseThrow(), 10, Optional.of(cursor)));
    assertEquals("cursor", otherSort.field());
    DeviceFilter rae2 = DeviceFilter.of(Optional.of("RAE-2"), Optional.empty(), Optional.empty(), Map.of());
    assertThrows(InvalidQueryException.class, () ->
        new DeviceQuery(rae2, DeviceSort.DEFAULT, 10, Optional.of(cursor)));
  }

  @Test
  void malformedCursorsNameTheCursorField() {
    for (String bad : new String[] {"", "!!!", "bm90IGpzb24", b64("{}"), b64("{\"s\":\"color\",\"f\":\"x\",\"id\":\"" + ID + "\"}"),
        b64("{\"s\":\"lastUpdateAt\",\"f\":\"x\",\"v\":\"yesterday\",\"id\":\"" + ID + "\"}"),
        b64("{\"s\":\"deviceSessionId\",\"f\":\"x\",\"id\":\"not-a-uuid\"}"), "a".repeat(2000)}) {
      InvalidQueryException e = assertThrows(InvalidQueryException.class, () -> DeviceCursor.decode(bad), bad);
      assertEquals("cursor", e.field());
    }
  }

  @Test
  void limitIsBounded() {
    assertThrows(InvalidQueryException.class, () -> new DeviceQuery(DeviceFilter.ALL, DeviceSort.DEFAULT, 0, Optional.empty()));
    assertThrows(InvalidQueryException.class, () -> new DeviceQuery(DeviceFilter.ALL, DeviceSort.DEFAULT, 501, Optional.empty()));
  }

  @Test
  void fingerprintsDistinguishFilters() {
    DeviceFilter a = DeviceFilter.of(Optional.empty(), Optional.empty(), Optional.of(Liveness.Connection.UNKNOWN),
        Map.of("esn", "1", "fw", "2"));
    DeviceFilter b = DeviceFilter.of(Optional.empty(), Optional.empty(), Optional.of(Liveness.Connection.UNKNOWN),
        Map.of("fw", "2", "esn", "1"));
    DeviceFilter c = DeviceFilter.of(Optional.empty(), Optional.empty(), Optional.empty(), Map.of("esn", "1", "fw", "2"));
    assertEquals(a.fingerprint(), b.fingerprint());
    assertEquals(false, a.fingerprint().equals(c.fingerprint()));
  }

  @Test
  void textFormsForEqualityFilters() {
    JsonNodeFactory f = JsonNodeFactory.instance;
    assertEquals("ESN-1", DeviceReadSideRepository.textForm(f.textNode("ESN-1")));
    assertEquals("42", DeviceReadSideRepository.textForm(f.numberNode(42)));
    assertEquals("true", DeviceReadSideRepository.textForm(f.booleanNode(true)));
    assertEquals("{\"a\":1}", DeviceReadSideRepository.textForm(f.objectNode().put("a", 1)));
    assertEquals("a\uFFFDb", DeviceReadSideRepository.textForm(f.textNode("a\u0000b")));
    assertNull(DeviceReadSideRepository.textForm(f.textNode("x".repeat(DeviceReadSideRepository.MAX_TEXT_FORM + 1))));
    assertEquals("\"a\\uFFFDb\"", DeviceReadSideRepository.jsonForm(f.textNode("a\u0000b")));
    assertEquals(64, DeviceReadSideRepository.boundedTestState("s".repeat(100)).length());
  }

  private static String b64(String json) {
    return Base64.getUrlEncoder().withoutPadding().encodeToString(json.getBytes(StandardCharsets.UTF_8));
  }
}
