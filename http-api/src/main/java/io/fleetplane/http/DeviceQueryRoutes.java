package io.fleetplane.http;

import akka.http.javadsl.model.StatusCodes;
import akka.http.javadsl.model.Uri;
import akka.http.javadsl.server.AllDirectives;
import akka.http.javadsl.server.PathMatchers;
import akka.http.javadsl.server.Route;
import io.fleetplane.config.ErrorCode;
import io.fleetplane.config.ids.DeviceSessionId;
import io.fleetplane.http.auth.Authorization;
import io.fleetplane.http.auth.Caller;
import io.fleetplane.http.auth.Scope;
import io.fleetplane.registry.readside.DeviceFilter;
import io.fleetplane.registry.readside.DeviceHistory;
import io.fleetplane.registry.readside.DevicePage;
import io.fleetplane.registry.readside.DeviceQueries;
import io.fleetplane.registry.readside.DeviceQuery;
import io.fleetplane.registry.readside.ReadSideStatus;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;

/**
 * The read side over HTTP, under {@code /api/v1/devices}: the filtered, sorted, cursor-paged list
 * and the stats (both from the projection, with how far behind it is), and a session's history
 * (from the journal, so as fresh as a single read).
 */
final class DeviceQueryRoutes extends AllDirectives {

  private final DeviceQueries queries;
  private final Authorization auth;

  DeviceQueryRoutes(DeviceQueries queries, Authorization auth) {
    this.queries = queries;
    this.auth = auth;
  }

  /** Routes relative to {@code /api/v1/devices}. */
  Route routes() {
    return concat(
        pathEndOrSingleSlash(() -> get(() -> auth.authorize(Scope.DEVICES_READ, caller ->
            extractUri(uri -> parameterList(params -> {
              DeviceQuery query = DeviceQueryParameters.list(params, filter -> visibleTo(caller, filter));
              return onSuccess(queries.list(query), page ->
                  complete(Json.response(StatusCodes.OK, listResponse(uri, params, page))));
            }))))),
        path("stats", () -> get(() -> auth.authorize(Scope.DEVICES_READ, caller -> parameterList(params ->
            onSuccess(queries.stats(visibleTo(caller, DeviceQueryParameters.stats(params))), stats ->
                complete(Json.response(StatusCodes.OK, DeviceQueryDtos.DeviceStatsResponse.from(stats)))))))),
        path(PathMatchers.segment().slash("history"), rawId -> get(() -> auth.authorize(Scope.DEVICES_READ, caller ->
            extractUri(uri -> parameterList(params -> {
          DeviceSessionId id = DeviceRoutes.parseId(rawId);
          DeviceQueryParameters.HistoryParameters paging = DeviceQueryParameters.history(params);
          return onSuccess(queries.history(id, paging.after(), paging.limit()), page -> {
            // A session's RAE never changes, so any of its events tells whose it is.
            boolean hidden = page.items().stream().anyMatch(e -> !caller.mayAccess(e.event().raeSerial()));
            if (hidden || (page.items().isEmpty() && paging.after() == 0)) {
              return complete(DeviceRoutes.notFound(id));
            }
            String next = page.nextAfter()
                .map(after -> nextLink(uri, params, DeviceHistory.encodeCursor(after))).orElse(null);
            return complete(Json.response(StatusCodes.OK, new DeviceQueryDtos.HistoryResponse(id.value(),
                page.items().stream().map(DeviceQueryDtos.HistoryItem::from).toList(), next)));
          });
        }))))));
  }

  /** The filter restricted to the caller's RAEs; a client's raeSerial outside them matches nothing. */
  static DeviceFilter visibleTo(Caller caller, DeviceFilter filter) {
    return caller.raeRestriction().map(filter::withinRaes).orElse(filter);
  }

  private DeviceQueryDtos.DeviceListResponse listResponse(Uri uri, List<Map.Entry<String, String>> params,
      DevicePage page) {
    ReadSideStatus status = page.status();
    return new DeviceQueryDtos.DeviceListResponse(
        page.items().stream()
            .map(row -> DeviceQueryDtos.DeviceItem.from(row, page.queriedAt(), queries.unknownAfter()))
            .toList(),
        page.next().map(cursor -> nextLink(uri, params, cursor.encode())).orElse(null),
        status.asOf().orElse(null),
        DeviceQueryDtos.seconds(status.lag()),
        status.lagEvents());
  }

  /** The same request (path and parameters, in their order) continued at {@code cursor}. */
  static String nextLink(Uri uri, List<Map.Entry<String, String>> params, String cursor) {
    StringBuilder link = new StringBuilder(uri.path()).append('?');
    for (Map.Entry<String, String> p : params) {
      if (!p.getKey().equals(DeviceQueryParameters.CURSOR)) {
        link.append(encode(p.getKey())).append('=').append(encode(p.getValue())).append('&');
      }
    }
    return link.append(DeviceQueryParameters.CURSOR).append('=').append(encode(cursor)).toString();
  }

  private static String encode(String text) {
    // Form encoding writes spaces as '+', which a query string need not decode as a space.
    return URLEncoder.encode(text, StandardCharsets.UTF_8).replace("+", "%20");
  }
}
