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
  /** A multipart upload carries at most this many max-document-bytes files' worth of body. */
  static final int MAX_UPLOAD_PARTS = 10;

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
        pathEnd(() -> post(() -> extractRequest(request -> isFormData(request)
            ? formParts(parts -> onSuccess(async(() -> uploadAll(fileParts(parts))), docs ->
                complete(Json.response(StatusCodes.CREATED, new DistributionDtos.DocumentsResponse(docs)))))
            : pdfBody(bytes -> onSuccess(async(() -> distributions.upload(bytes)), doc ->
                complete(Json.response(StatusCodes.CREATED, documentResponse(doc)))))))),
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
        pathEnd(() -> post(() -> extractRequest(request -> isFormData(request)
            ? formParts(parts -> onSuccess(async(() -> multipartRequest(parts)), this::submit))
            : json.as(DistributionRequest.class, this::submit)))),
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

  private Route submit(DistributionRequest request) {
    return onSuccess(distributions.submit(request), accepted -> {
      String id = accepted.summary().jobId();
      return complete(Json.response(StatusCodes.ACCEPTED, DistributionDtos.SummaryDto.from(accepted.summary()))
          .addHeader(Location.create("/api/v1/distributions/" + id)));
    });
  }

  /**
   * A multipart distribution: exactly one {@code spec} part (the JSON of a plain submission, where a
   * file may name an uploaded part by its file name, {@code {"part": "script.pdf"}}, instead of a
   * {@code documentId}) plus {@code file} parts with distinct file names. The parts are checked and
   * stored like {@code POST /documents} uploads, then the spec is submitted with their ids.
   */
  private DistributionRequest multipartRequest(java.util.List<FormPart> parts) throws IOException {
    java.util.List<FormPart> specs = parts.stream().filter(p -> p.name().equals("spec")).toList();
    if (specs.size() != 1) {
      throw new Problem.ProblemException(Problem.of(StatusCodes.BAD_REQUEST, ErrorCode.REQUEST_INVALID,
          "A multipart/form-data distribution needs exactly one part named 'spec' holding the JSON request (got "
              + specs.size() + ").", "spec"));
    }
    DistributionDtos.MultipartSpec spec = json.parse(DistributionDtos.MultipartSpec.class, specs.get(0).content());
    java.util.Map<String, String> uploaded = new java.util.HashMap<>();
    java.util.List<FormPart> files = parts.stream().filter(p -> p.name().equals("file")).toList();
    for (FormPart file : files) {
      if (file.fileName() == null || file.fileName().isBlank() || uploaded.containsKey(file.fileName())) {
        throw new Problem.ProblemException(Problem.of(StatusCodes.BAD_REQUEST, ErrorCode.REQUEST_INVALID,
            "Every 'file' part needs its own file name (Content-Disposition filename=...), which the spec's "
                + "files refer to as {\"part\": \"<file name>\"}.", "file"));
      }
      uploaded.put(file.fileName(), distributions.upload(file.content()).documentId());
    }
    java.util.List<DistributionRequest.FileRequest> resolved = new java.util.ArrayList<>();
    java.util.List<DistributionDtos.MultipartSpec.FileRef> refs = spec.files() == null ? java.util.List.of() : spec.files();
    for (int i = 0; i < refs.size(); i++) {
      DistributionDtos.MultipartSpec.FileRef ref = refs.get(i);
      if (ref == null || (ref.part() == null) == (ref.documentId() == null)) {
        throw new Problem.ProblemException(Problem.of(StatusCodes.BAD_REQUEST, ErrorCode.REQUEST_INVALID,
            "Each file names exactly one of 'documentId' (an earlier upload) or 'part' (a file part of this request).",
            "files." + i));
      }
      String documentId = ref.documentId();
      if (ref.part() != null) {
        documentId = uploaded.get(ref.part());
        if (documentId == null) {
          throw new Problem.ProblemException(Problem.of(StatusCodes.BAD_REQUEST, ErrorCode.REQUEST_INVALID,
              "No 'file' part with file name '" + DeviceQueryParameters.printable(ref.part()) + "' in this request; "
                  + "uploaded: " + new java.util.TreeSet<>(uploaded.keySet()) + ".", "files." + i + ".part"));
        }
      }
      resolved.add(new DistributionRequest.FileRequest(documentId,
          ref.name() == null && ref.part() != null ? ref.part() : ref.name()));
    }
    return new DistributionRequest(spec.files() == null ? null : resolved, spec.recipients(), spec.watermarkTemplate(),
        spec.passwordProtect(), spec.linkTtlSeconds(), spec.emailNotification(), spec.pushNotification(),
        spec.priority());
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

  private static boolean isFormData(akka.http.javadsl.model.HttpRequest request) {
    var type = request.entity().getContentType().mediaType();
    return type.mainType().equals("multipart") && type.subType().equals("form-data");
  }

  /** One part of a {@code multipart/form-data} body, read completely. */
  private record FormPart(String name, String fileName, byte[] content) {}

  /**
   * Every part of a {@code multipart/form-data} body, in order, each streamed into memory up to
   * max-document-bytes (a larger one fails the request with 413 before it is buffered whole; a
   * stalled client is cut off by the server's request timeout). The
   * whole body is capped at {@link #MAX_UPLOAD_PARTS} documents' worth so a client cannot stream
   * an unbounded number of parts.
   */
  private Route formParts(java.util.function.Function<java.util.List<FormPart>, Route> inner) {
    long perPart = distributions.settings().maxDocumentBytes();
    return withSizeLimit(perPart * MAX_UPLOAD_PARTS, () ->
        entity(Unmarshaller.entityToMultipartFormData(), form -> extractMaterializer(materializer ->
            onSuccess(form.getParts()
                // Our own bounded fold, not toStrict(maxBytes): that fails with a generic
                // EntityStreamException, which would surface as a 500 instead of the 413 clients can act on.
                .mapAsync(1, part -> part.getEntity().getDataBytes()
                    .runFold(ByteString.emptyByteString(), (ByteString read, ByteString chunk) -> {
                      if (read.size() + chunk.size() > perPart) {
                        throw new Problem.ProblemException(Problem.of(StatusCodes.PAYLOAD_TOO_LARGE,
                            ErrorCode.PAYLOAD_TOO_LARGE, "Part '" + DeviceQueryParameters.printable(part.getName())
                                + "' is larger than " + perPart + " bytes (max-document-bytes); send a smaller file."));
                      }
                      return read.concat(chunk);
                    }, materializer)
                    .thenApply(bytes -> new FormPart(part.getName(), part.getFilename().orElse(null), bytes.toArray())))
                .runWith(akka.stream.javadsl.Sink.seq(), materializer), inner::apply))));
  }

  /** The parts named {@code file}: at least one, else a 400 naming the field. */
  private static java.util.List<FormPart> fileParts(java.util.List<FormPart> parts) {
    java.util.List<FormPart> files = parts.stream().filter(p -> p.name().equals("file")).toList();
    if (files.isEmpty()) {
      throw new Problem.ProblemException(Problem.of(StatusCodes.BAD_REQUEST, ErrorCode.REQUEST_INVALID,
          "A multipart/form-data upload needs at least one part named 'file' holding a PDF.", "file"));
    }
    return files;
  }

  /**
   * Stores the parts in order; the first unusable one answers its {@code document.*} error (parts
   * before it are stored, which is harmless: the store is content-addressed, a retry is a no-op).
   */
  private java.util.List<DistributionDtos.DocumentResponse> uploadAll(java.util.List<FormPart> files)
      throws IOException {
    java.util.List<DistributionDtos.DocumentResponse> stored = new java.util.ArrayList<>();
    for (FormPart file : files) {
      DistributionDtos.DocumentResponse doc = documentResponse(distributions.upload(file.content()));
      stored.add(new DistributionDtos.DocumentResponse(doc.documentId(), doc.pages(), doc.sizeBytes(), doc.thumbnail(),
          file.fileName()));
    }
    return stored;
  }

  private static DistributionDtos.DocumentResponse documentResponse(Distributions.UploadedDocument doc) {
    return new DistributionDtos.DocumentResponse(doc.documentId(), doc.pages(), doc.sizeBytes(),
        "/api/v1/documents/" + doc.documentId() + "/thumbnail", null);
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
