package io.fleetplane.http;

import com.fasterxml.jackson.annotation.JsonInclude;
import io.fleetplane.jobs.distribution.DistributionJob;
import java.time.Instant;
import java.util.List;
import java.util.Map;

/** Request and response bodies of the distribution API; decoupled from the actor's records. */
final class DistributionDtos {

  private DistributionDtos() {}

  /** {@code fileName}: the part's file name, only in multipart answers (absent for a raw PDF body). */
  record DocumentResponse(String documentId, int pages, long sizeBytes, String thumbnail,
      @JsonInclude(JsonInclude.Include.NON_NULL) String fileName) {}

  /** A multipart upload's answer: one entry per {@code file} part, in request order. */
  record DocumentsResponse(List<DocumentResponse> documents) {}

  /**
   * {@code link}: the recipient's download URL, a capability, so only for {@code jobs:write} callers
   * and only once the copy exists; absent from the JSON otherwise (not null, so a jobs:read client
   * cannot mistake "hidden" for "no link yet").
   */
  record ItemDto(String itemId, String documentId, String fileName, String recipientId, String recipientName,
      String recipientEmail, String state, int attempts, String failedStep, String lastError, String copyDocumentId,
      Instant linkExpiresAt, boolean linkRevoked, int downloads, Instant updatedAt,
      @JsonInclude(JsonInclude.Include.NON_NULL) String link) {

    /** Without the link: summaries and jobs:read callers. */
    static ItemDto from(DistributionJob.ItemView i) {
      return withLink(i, null);
    }

    static ItemDto withLink(DistributionJob.ItemView i, String link) {
      return new ItemDto(i.itemId(), i.documentId(), i.fileName(), i.recipientId(), i.recipientName(),
          i.recipientEmail(), i.state(), i.attempts(), i.failedStep(), i.lastError(), i.copyDocumentId(),
          i.linkExpiresAt(), i.linkRevoked(), i.downloads(), i.updatedAt(), link);
    }
  }

  /** {@code failures}: every failed item with its step and reason (the first 100; the rest via /items?state=failed). */
  record SummaryDto(String id, String status, Instant createdAt, Instant finishedAt, int totalItems,
      Map<String, Integer> counts, int files, int recipients, boolean passwordProtect, boolean emailNotification,
      boolean pushNotification, String priority, List<ItemDto> failures, String items) {

    static SummaryDto from(DistributionJob.Summary s) {
      return new SummaryDto(s.jobId(), s.status(), s.createdAt(), s.finishedAt(), s.totalItems(), s.counts(),
          s.files(), s.recipients(), s.passwordProtect(), s.emailNotification(), s.pushNotification(), s.priority(),
          s.failures().stream().map(ItemDto::from).toList(), "/api/v1/distributions/" + s.jobId() + "/items");
    }
  }

  /**
   * The {@code spec} part of a multipart distribution: a plain submission whose files may name a
   * {@code file} part of the same request ({@code part}, its file name) instead of a {@code documentId}.
   */
  record MultipartSpec(List<FileRef> files, List<io.fleetplane.jobs.distribution.domain.DistributionRequest.RecipientRequest>
      recipients, String watermarkTemplate, Boolean passwordProtect, Long linkTtlSeconds, Boolean emailNotification,
      Boolean pushNotification, String priority) {

    /** Exactly one of {@code documentId} and {@code part}; {@code name} defaults to the part's file name. */
    record FileRef(String documentId, String part, String name) {}
  }

  record ItemsResponse(int total, int offset, int limit, List<ItemDto> items) {}

  /** Journal order; {@code next} continues after the last entry when the page was full. */
  record TimelineResponse(List<io.fleetplane.jobs.distribution.Distributions.TimelineEntry> entries, String next) {}

  record RevokeResponse(String id, String recipientId, int revokedLinks) {}

  record IdentifyResponse(String distributionId, String recipientId, String recipientName, String recipientEmail) {}
}
