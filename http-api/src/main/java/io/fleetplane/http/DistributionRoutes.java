package io.fleetplane.http;

import akka.actor.typed.ActorSystem;
import akka.actor.typed.DispatcherSelector;
import akka.http.javadsl.model.ContentTypes;
import akka.http.javadsl.model.HttpEntities;
import akka.http.javadsl.model.HttpResponse;
import akka.http.javadsl.model.MediaTypes;
import akka.http.javadsl.model.StatusCodes;
import akka.http.javadsl.model.headers.ContentDisposition;
import akka.http.javadsl.model.headers.ContentDispositionTypes;
import akka.http.javadsl.model.headers.Location;
import akka.http.javadsl.server.AllDirectives;
import akka.http.javadsl.server.PathMatchers;
import akka.http.javadsl.server.Route;
import akka.http.javadsl.unmarshalling.Unmarshaller;
import akka.util.ByteString;
import io.fleetplane.config.ErrorCode;
import io.fleetplane.http.auth.Authorization;
import io.fleetplane.http.auth.Scope;
import io.fleetplane.jobs.distribution.DistributionJob;
import io.fleetplane.jobs.distribution.Distributions;
import io.fleetplane.jobs.distribution.domain.DistributionRequest;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executor;

/**
 * Distribution jobs over HTTP. {@link #apiRoutes()} sits under {@code /api/v1} ({@code /documents},
 * {@code /distributions}) and is what authentication wraps; {@link #linkRoutes()} is
 * {@code /d/{token}}, which recipients open without an account (the token is the credential).
 */
final class DistributionRoutes extends AllDirectives {

  private static final int MAX_PAGE = 1000;

  private final Distributions distributions;
  /** The shared size-limited JSON reader: 413/415/400 problems exactly like every other JSON route. */
  private final JsonBody json;
  /** PDF parsing and file reads block: they run on Akka's blocking-IO dispatcher, not the HTTP one. */
  private final Executor blocking;

  DistributionRoutes(ActorSystem<?> system, Distributions distributions) {
    this.distributions = distributions;
    this.json = JsonBody.fromConfig(system.settings().config());
    this.blocking = system.dispatchers().lookup(DispatcherSelector.blocking());
  }

  /** Routes relative to {@code /api/v1}. */
  Route apiRoutes() {
    return concat(
        pathPrefix("documents", this::documentRoutes),
        pathPrefix("distributions", this::distributionRoutes));
  }

  /** {@code GET /d/{token}}: the recipient's copy, or 404/410 as problem documents. */
  Route linkRoutes() {
    return path(PathMatchers.segment("d").slash(PathMatchers.segment()), token -> get(() ->
        onSuccess(distributions.download(token), outcome -> {
          if (outcome instanceof Distributions.Download download) {
            return complete(HttpResponse.create()
                .withEntity(HttpEntities.create(ContentTypes.create(MediaTypes.APPLICATION_PDF), download.content()))
                .addHeader(ContentDisposition.create(ContentDispositionTypes.ATTACHMENT,
                    Map.of("filename", download.fileName()))));
          }
          DistributionJob.LinkReply reason = ((Distributions.Refused) outcome).reason();
          if (reason instanceof DistributionJob.LinkRevoked) {
            return complete(Problem.of(StatusCodes.GONE, ErrorCode.LINK_REVOKED,
                "This link was revoked by the sender.").toResponse());
          }
          if (reason instanceof DistributionJob.LinkExpired expired) {
            return complete(Problem.of(StatusCodes.GONE, ErrorCode.LINK_EXPIRED,
                "This link expired at " + expired.expiredAt() + "; ask the sender for a new one.").toResponse());
          }
          return complete(Problem.of(StatusCodes.NOT_FOUND, ErrorCode.LINK_NOT_FOUND,
              "No document behind this link; check it was copied completely.").toResponse());
        })));
  }

  private Route documentRoutes() {
    return concat(
        pathEnd(() -> post(() -> pdfBody(bytes ->
            onSuccess(async(() -> distributions.upload(bytes)), doc ->
                complete(Json.response(StatusCodes.CREATED, new DistributionDtos.DocumentResponse(doc.documentId(),
                    doc.pages(), doc.sizeBytes(), "/api/v1/documents/" + doc.documentId() + "/thumbnail"))))))),
        path("identify", () -> post(() -> pdfBody(bytes ->
            onSuccess(async(() -> distributions.identify(bytes)), found -> {
              if (found.isEmpty()) {
                return complete(Problem.of(StatusCodes.NOT_FOUND, ErrorCode.DOCUMENT_FINGERPRINT_NOT_FOUND,
                    "No Fleetplane fingerprint of this deployment in the document (encrypted copies must be "
                        + "opened with their password and saved unprotected first).").toResponse());
              }
              String jobId = found.get().jobId();
              String recipientId = found.get().recipientId();
              return onSuccess(distributions.items(jobId, null, 0, MAX_PAGE), reply -> {
                var item = reply instanceof DistributionJob.ItemsPage page
                    ? page.items().stream().filter(i -> i.recipientId().equals(recipientId)).findFirst() : java.util.Optional.<DistributionJob.ItemView>empty();
                return complete(Json.response(StatusCodes.OK, new DistributionDtos.IdentifyResponse(jobId, recipientId,
                    item.map(DistributionJob.ItemView::recipientName).orElse(null),
                    item.map(DistributionJob.ItemView::recipientEmail).orElse(null))));
              });
            })))),
        path(PathMatchers.segment().slash("thumbnail"), id -> get(() ->
            onSuccess(async(() -> distributions.store().thumbnail(id)), png -> png
                .map(bytes -> complete(HttpResponse.create().withEntity(
                    HttpEntities.create(ContentTypes.create(MediaTypes.IMAGE_PNG), bytes))))
                .orElseGet(() -> complete(Problem.of(StatusCodes.NOT_FOUND, ErrorCode.DOCUMENT_NOT_FOUND,
                    "No uploaded document " + id + ".").toResponse()))))));
  }

  private Route distributionRoutes() {
    return concat(
        pathEnd(() -> post(() -> json.as(DistributionRequest.class, request ->
            onSuccess(distributions.submit(request), accepted -> {
              String id = accepted.summary().jobId();
              return complete(Json.response(StatusCodes.ACCEPTED, DistributionDtos.SummaryDto.from(accepted.summary()))
                  .addHeader(Location.create("/api/v1/distributions/" + id)));
            })))),
        pathPrefix(PathMatchers.segment(), rawId -> {
          String id = parseId(rawId);
          return concat(
              pathEnd(() -> get(() -> onSuccess(distributions.summary(id), reply ->
                  reply instanceof DistributionJob.SummaryFound found
                      ? complete(Json.response(StatusCodes.OK, DistributionDtos.SummaryDto.from(found.summary())))
                      : notFound(id)))),
              path("items", () -> get(() -> parameterOptional("state", state -> parameterOptional("offset", offset ->
                  parameterOptional("limit", limit -> {
                    int from = intParam("offset", offset.orElse("0"), 0, Integer.MAX_VALUE);
                    int size = intParam("limit", limit.orElse("100"), 1, MAX_PAGE);
                    String filter = state.orElse(null);
                    if (filter != null && java.util.Arrays.stream(DistributionJob.ItemState.values())
                        .noneMatch(s -> s.wire().equals(filter))) {
                      throw new Problem.ProblemException(Problem.of(StatusCodes.BAD_REQUEST, ErrorCode.REQUEST_INVALID,
                          "state must be one of pending, notifying, completed, failed, cancelled.", "state"));
                    }
                    return optionalAttribute(Authorization.CALLER, caller -> {
                      // Links are capabilities: a jobs:read caller (support, dashboards) sees the item, not its
                      // link; no caller on the request (routes mounted without auth) shows none either.
                      boolean showLinks = caller.map(c -> c.has(Scope.JOBS_WRITE)).orElse(false);
                      return onSuccess(distributions.items(id, filter, from, size), reply ->
                          reply instanceof DistributionJob.ItemsPage page
                              ? complete(Json.response(StatusCodes.OK, new DistributionDtos.ItemsResponse(page.total(),
                                  page.offset(), size, page.items().stream().map(i -> DistributionDtos.ItemDto.withLink(i,
                                      showLinks && i.linkExpiresAt() != null ? distributions.link(id, i.itemId()) : null))
                                  .toList())))
                              : notFound(id));
                    });
                  }))))),
              path("timeline", () -> get(() -> parameterOptional("after", after -> parameterOptional("limit", limit -> {
                int from = intParam("after", after.orElse("0"), 0, Integer.MAX_VALUE);
                int size = intParam("limit", limit.orElse("500"), 1, MAX_PAGE);
                return onSuccess(distributions.timeline(id, from, size), entries -> {
                  if (entries.isEmpty() && from == 0) {
                    return notFound(id);
                  }
                  String next = entries.size() < size ? null : "/api/v1/distributions/" + id + "/timeline?after="
                      + entries.get(entries.size() - 1).sequenceNr() + "&limit=" + size;
                  return complete(Json.response(StatusCodes.OK, new DistributionDtos.TimelineResponse(entries, next)));
                });
              })))),
              path(PathMatchers.segment("actions").slash("cancel"), () -> post(() ->
                  onSuccess(distributions.cancel(id), reply -> {
                    if (reply instanceof DistributionJob.CancelAccepted c) {
                      return complete(Json.response(StatusCodes.OK, DistributionDtos.SummaryDto.from(c.summary())));
                    }
                    if (reply instanceof DistributionJob.NotCancellable n) {
                      return complete(Problem.of(StatusCodes.CONFLICT, ErrorCode.DISTRIBUTION_NOT_CANCELLABLE,
                          "Distribution " + id + " already ended: " + n.status() + ".").toResponse());
                    }
                    return notFound(id);
                  }))),
              path(PathMatchers.segment("actions").slash("revoke"), () -> post(() -> revoke(id, null))),
              path(PathMatchers.segment("recipients").slash(PathMatchers.segment()).slash("actions").slash("revoke"),
                  recipientId -> post(() -> revoke(id, recipientId))));
        }));
  }

  private Route revoke(String id, String recipientId) {
    return onSuccess(distributions.revoke(id, recipientId), reply -> {
      if (reply instanceof DistributionJob.LinksRevokedReply r) {
        return complete(Json.response(StatusCodes.OK, new DistributionDtos.RevokeResponse(id, recipientId, r.links())));
      }
      if (reply instanceof DistributionJob.RecipientNotFound) {
        return complete(Problem.of(StatusCodes.NOT_FOUND, ErrorCode.DISTRIBUTION_RECIPIENT_NOT_FOUND,
            "Distribution " + id + " has no recipient " + recipientId + " (ids are r0, r1, ... in request order).",
            "recipientId").toResponse());
      }
      return notFound(id);
    });
  }

  /** The raw request body (a PDF), up to the configured size. */
  private Route pdfBody(java.util.function.Function<byte[], Route> inner) {
    return withSizeLimit(distributions.settings().maxDocumentBytes(), () ->
        entity(Unmarshaller.entityToByteString(), (ByteString body) -> inner.apply(body.toArray())));
  }

  private Route notFound(String id) {
    return complete(Problem.of(StatusCodes.NOT_FOUND, ErrorCode.DISTRIBUTION_NOT_FOUND,
        "No distribution " + id + ".").toResponse());
  }

  static String parseId(String rawId) {
    if (!Distributions.isJobId(rawId)) {
      throw new Problem.ProblemException(Problem.of(StatusCodes.BAD_REQUEST, ErrorCode.DISTRIBUTION_ID_INVALID,
          "Distribution ids are lower-case UUIDs as returned by POST /api/v1/distributions.", "distributionId"));
    }
    return rawId;
  }

  private static int intParam(String name, String value, int min, int max) {
    try {
      int n = Integer.parseInt(value);
      if (n >= min && n <= max) {
        return n;
      }
    } catch (NumberFormatException e) {
      // reported below
    }
    throw new Problem.ProblemException(Problem.of(StatusCodes.BAD_REQUEST, ErrorCode.REQUEST_INVALID,
        name + " must be an integer from " + min + " to " + max + ", was " + value + ".", name));
  }

  private interface IoSupplier<T> {
    T get() throws IOException;
  }

  private <T> CompletionStage<T> async(IoSupplier<T> work) {
    return CompletableFuture.supplyAsync(() -> {
      try {
        return work.get();
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }, blocking);
  }
}
