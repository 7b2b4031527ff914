package io.fleetplane.registry.readside;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fleetplane.config.ErrorCode;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.Base64;
import java.util.UUID;

/**
 * Where a page of the device list ended: the last row's sort value and id, plus the sort and
 * filter it was issued for. Clients treat it as opaque (base64url JSON); it is validated on the
 * way back in, because it arrives from outside like any other parameter.
 *
 * @param sort the sort's spelling ({@code -lastUpdateAt})
 * @param filter {@link DeviceFilter#fingerprint()} of the query that issued it
 * @param lastValue the last row's sort value as text (an ISO instant, an RAE serial); null when
 *     sorting by id alone
 * @param lastId the last row's session id
 */
public record DeviceCursor(
    @JsonProperty("s") String sort,
    @JsonProperty("f") String filter,
    @JsonProperty("v") String lastValue,
    @JsonProperty("id") String lastId) {

  public static final String FIELD = "cursor";
  private static final ObjectMapper MAPPER = new ObjectMapper();
  /** Cursors we issue are well under this; anything longer is not ours. */
  private static final int MAX_LENGTH = 1024;

  public String encode() {
    try {
      return Base64.getUrlEncoder().withoutPadding().encodeToString(MAPPER.writeValueAsBytes(this));
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new IllegalStateException("cursors are always serializable", e);
    }
  }

  /** Decodes and checks a cursor's form; whether it fits the query is {@link #checkFits}. */
  public static DeviceCursor decode(String text) {
    if (text.isEmpty() || text.length() > MAX_LENGTH) {
      throw malformed();
    }
    DeviceCursor cursor;
    try {
      cursor = MAPPER.readValue(Base64.getUrlDecoder().decode(text), DeviceCursor.class);
    } catch (IllegalArgumentException | java.io.IOException e) {
      throw malformed();
    }
    if (cursor == null || cursor.sort() == null || cursor.filter() == null || cursor.lastId() == null) {
      throw malformed();
    }
    DeviceSort sort = DeviceSort.parse(cursor.sort()).orElseThrow(DeviceCursor::malformed);
    try {
      UUID.fromString(cursor.lastId());
      switch (sort.key().kind()) {
        case TIMESTAMP -> Instant.parse(requireValue(cursor));
        case TEXT -> requireValue(cursor);
        case ID -> { }
      }
    } catch (IllegalArgumentException | DateTimeParseException e) {
      throw malformed();
    }
    return cursor;
  }

  /** Fails unless this cursor was issued for the same sort and filter. */
  void checkFits(DeviceSort sort, DeviceFilter filter) {
    if (!this.sort.equals(sort.apiName()) || !this.filter.equals(filter.fingerprint())) {
      throw new InvalidQueryException(ErrorCode.REQUEST_INVALID, FIELD,
          "This cursor belongs to a query with another sort or other filters. Repeat the query that "
              + "returned it (same filters and sort), or start again without a cursor.");
    }
  }

  private static String requireValue(DeviceCursor cursor) {
    if (cursor.lastValue() == null) {
      throw new IllegalArgumentException("no value");
    }
    return cursor.lastValue();
  }

  private static InvalidQueryException malformed() {
    return new InvalidQueryException(ErrorCode.REQUEST_INVALID, FIELD,
        "The cursor is not one this API issued. Use the 'next' link of a previous page as it is, "
            + "or start again without a cursor.");
  }
}
