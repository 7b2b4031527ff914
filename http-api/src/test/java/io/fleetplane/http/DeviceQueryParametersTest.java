package io.fleetplane.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.fleetplane.registry.domain.Liveness;
import io.fleetplane.registry.readside.DeviceHistory;
import io.fleetplane.registry.readside.DeviceQuery;
import io.fleetplane.registry.readside.DeviceSortKey;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class DeviceQueryParametersTest {

  private static List<Map.Entry<String, String>> params(String... keyValues) {
    List<Map.Entry<String, String>> list = new java.util.ArrayList<>();
    for (int i = 0; i < keyValues.length; i += 2) {
      list.add(Map.entry(keyValues[i], keyValues[i + 1]));
    }
    return list;
  }

  private static Problem problem(Runnable parse) {
    return assertThrows(Problem.ProblemException.class, parse::run).problem();
  }

  @Test
  void defaults() {
    DeviceQuery q = DeviceQueryParameters.list(params());
    assertEquals(50, q.limit());
    assertEquals(DeviceSortKey.LAST_UPDATE_AT, q.sort().key());
    assertEquals(true, q.sort().descending());
    assertEquals(0, q.filter().attributes().size());
  }

  @Test
  void filtersSortAndLimit() {
    DeviceQuery q = DeviceQueryParameters.list(params("raeSerial", "RAE-1", "state", "in-test",
        "connection", "UNKNOWN", "esn", "E-1", "attr.firmware", "2.0", "sort", "deviceSessionId", "limit", "500"));
    assertEquals("RAE-1", q.filter().raeSerial().orElseThrow());
    assertEquals("in-test", q.filter().testState().orElseThrow());
    assertEquals(Liveness.Connection.UNKNOWN, q.filter().connection().orElseThrow());
    assertEquals(Map.of("esn", "E-1", "firmware", "2.0"), q.filter().attributes());
    assertEquals(DeviceSortKey.DEVICE_SESSION_ID, q.sort().key());
    assertEquals(false, q.sort().descending());
    assertEquals(500, q.limit());
  }

  @Test
  void everyBadInputNamesItsField() {
    Object[][] cases = {
        {params("colour", "red"), "request.invalid", "colour"},
        {params("sort", "-colour"), "request.invalid", "sort"},
        {params("limit", "0"), "request.invalid", "limit"},
        {params("limit", "501"), "request.invalid", "limit"},
        {params("limit", "1e3"), "request.invalid", "limit"},
        {params("cursor", "x"), "request.invalid", "cursor"},
        {params("connection", "connected"), "request.invalid", "connection"},
        {params("raeSerial", "a/b"), "device.rae-serial-invalid", "raeSerial"},
        {params("state", ""), "request.invalid", "state"},
        {params("attr.", "x"), "request.invalid", "attr."},
        {params("attr." + "n".repeat(129), "x"), "request.invalid", "attr." + "n".repeat(129)},
        {params("esn", "a", "esn", "b"), "request.invalid", "esn"},
    };
    for (Object[] c : cases) {
      @SuppressWarnings("unchecked")
      List<Map.Entry<String, String>> p = (List<Map.Entry<String, String>>) c[0];
      Problem problem = problem(() -> DeviceQueryParameters.list(p));
      assertEquals(400, problem.status(), p.toString());
      assertEquals(c[1], problem.code(), p.toString());
      assertEquals(DeviceQueryParameters.printable((String) c[2]), problem.field(), p.toString());
    }
  }

  @Test
  void statsTakeFiltersButNoPaging() {
    assertEquals("RAE-1", DeviceQueryParameters.stats(params("raeSerial", "RAE-1")).raeSerial().orElseThrow());
    assertEquals("sort", problem(() -> DeviceQueryParameters.stats(params("sort", "raeSerial"))).field());
  }

  @Test
  void historyTakesLimitAndCursor() {
    var h = DeviceQueryParameters.history(params("limit", "3", "cursor", DeviceHistory.encodeCursor(6)));
    assertEquals(6, h.after());
    assertEquals(3, h.limit());
    assertEquals("cursor", problem(() -> DeviceQueryParameters.history(params("cursor", "abc"))).field());
    assertEquals("state", problem(() -> DeviceQueryParameters.history(params("state", "x"))).field());
  }
}
