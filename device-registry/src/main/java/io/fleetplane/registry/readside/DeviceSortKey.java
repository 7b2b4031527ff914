package io.fleetplane.registry.readside;

import java.util.Arrays;
import java.util.Optional;

/**
 * What a device list can be sorted by. Each key is a NOT NULL column with an index that ends in
 * the session id, so keyset paging ({@code (column, id) > (last value, last id)}) is exact and
 * cheap; nullable columns such as the test state are deliberately not sortable.
 */
public enum DeviceSortKey {
  DEVICE_SESSION_ID("deviceSessionId", "s.device_session_id", ValueKind.ID),
  LAST_UPDATE_AT("lastUpdateAt", "s.last_update_at", ValueKind.TIMESTAMP),
  LAST_HEARD_AT("lastHeardAt", "s.last_heard_at", ValueKind.TIMESTAMP),
  RAE_SERIAL("raeSerial", "s.rae_serial", ValueKind.TEXT);

  /** How a key's last value is written into a cursor and bound back into SQL. */
  enum ValueKind { ID, TIMESTAMP, TEXT }

  private final String apiName;
  private final String column;
  private final ValueKind kind;

  DeviceSortKey(String apiName, String column, ValueKind kind) {
    this.apiName = apiName;
    this.column = column;
    this.kind = kind;
  }

  public String apiName() {
    return apiName;
  }

  String column() {
    return column;
  }

  ValueKind kind() {
    return kind;
  }

  public static Optional<DeviceSortKey> byApiName(String name) {
    return Arrays.stream(values()).filter(k -> k.apiName.equals(name)).findFirst();
  }

  /** The accepted spellings, for error messages. */
  public static String accepted() {
    StringBuilder b = new StringBuilder();
    for (DeviceSortKey k : values()) {
      b.append(b.isEmpty() ? "" : ", ").append(k.apiName).append(", -").append(k.apiName);
    }
    return b.toString();
  }
}
