package io.fleetplane.jobs.distribution.domain;

import io.fleetplane.config.ErrorCode;
import io.fleetplane.config.InvalidInputException;
import io.fleetplane.config.ids.DeviceSessionId;
import io.fleetplane.config.ids.RaeSerial;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * A submitted distribution as the client sent it, and the checks that turn it into a
 * {@link DistributionSpec}. Everything that can be known before any work starts is checked here,
 * each failure with its own stable code, so a bad request never becomes a job.
 */
public record DistributionRequest(
    List<FileRequest> files,
    List<RecipientRequest> recipients,
    String watermarkTemplate,
    Boolean passwordProtect,
    Long linkTtlSeconds,
    Boolean emailNotification,
    Boolean pushNotification,
    String priority) {

  /** Without push, at normal priority. */
  public DistributionRequest(List<FileRequest> files, List<RecipientRequest> recipients, String watermarkTemplate,
      Boolean passwordProtect, Long linkTtlSeconds, Boolean emailNotification) {
    this(files, recipients, watermarkTemplate, passwordProtect, linkTtlSeconds, emailNotification, null, null);
  }

  public record FileRequest(String documentId, String name) {}

  /** {@code pushTarget} optional. */
  public record RecipientRequest(String name, String email, PushTargetRequest pushTarget) {
    public RecipientRequest(String name, String email) {
      this(name, email, null);
    }
  }

  /**
   * At least one of {@code address} and a device session ({@code raeSerial} and
   * {@code deviceSessionId}, both or neither).
   */
  public record PushTargetRequest(String address, String raeSerial, String deviceSessionId) {}

  private static final int MAX_PUSH_ADDRESS_LENGTH = 256;

  /** Deliberately simple: one @, something on both sides, a dot in the domain, no spaces. */
  private static final Pattern EMAIL = Pattern.compile("[^@\\s]+@[^@\\s]+\\.[^@\\s]+");
  private static final int MAX_NAME_LENGTH = 200;

  /**
   * @param maxItems the configured limit of files x recipients
   * @param defaultLinkTtlSeconds used when the request names none
   * @throws InvalidInputException the first problem found, with the field it concerns in the message
   */
  public DistributionSpec validate(int maxItems, long defaultLinkTtlSeconds) {
    if (files == null || files.isEmpty()) {
      throw new InvalidInputException(ErrorCode.DISTRIBUTION_FILES_EMPTY,
          "files: at least one document id is required (upload PDFs with POST /api/v1/documents first).");
    }
    if (recipients == null || recipients.isEmpty()) {
      throw new InvalidInputException(ErrorCode.DISTRIBUTION_RECIPIENTS_EMPTY,
          "recipients: at least one recipient ({\"name\": ..., \"email\": ...}) is required.");
    }
    long items = (long) files.size() * recipients.size();
    if (items > maxItems) {
      throw new InvalidInputException(ErrorCode.DISTRIBUTION_TOO_MANY_ITEMS,
          files.size() + " files x " + recipients.size() + " recipients = " + items
              + " copies; the limit is " + maxItems + " per distribution (fleetplane.jobs.distribution.max-items).");
    }
    List<DistributionFile> specFiles = new ArrayList<>();
    for (int i = 0; i < files.size(); i++) {
      FileRequest f = files.get(i);
      if (f == null || f.documentId() == null || f.documentId().isBlank()) {
        throw new InvalidInputException(ErrorCode.REQUEST_INVALID, "files[" + i + "].documentId is required.");
      }
      String name = f.name() == null || f.name().isBlank() ? f.documentId() + ".pdf" : f.name();
      specFiles.add(new DistributionFile(f.documentId(), name));
    }
    List<Recipient> specRecipients = new ArrayList<>();
    Map<String, Integer> seen = new HashMap<>();
    for (int i = 0; i < recipients.size(); i++) {
      RecipientRequest r = recipients.get(i);
      if (r == null || r.name() == null || r.name().isBlank() || r.name().length() > MAX_NAME_LENGTH) {
        throw new InvalidInputException(ErrorCode.DISTRIBUTION_RECIPIENT_INVALID,
            "recipients[" + i + "].name is required (1-" + MAX_NAME_LENGTH + " characters).");
      }
      if (r.email() == null || !EMAIL.matcher(r.email()).matches()) {
        throw new InvalidInputException(ErrorCode.DISTRIBUTION_RECIPIENT_INVALID,
            "recipients[" + i + "].email is not an e-mail address: " + r.email());
      }
      String key = r.email().toLowerCase(Locale.ROOT);
      Integer first = seen.putIfAbsent(key, i);
      if (first != null) {
        throw new InvalidInputException(ErrorCode.DISTRIBUTION_RECIPIENT_DUPLICATE,
            "recipients[" + i + "] repeats the e-mail of recipients[" + first + "] (" + r.email()
                + "); each recipient gets one copy per file.");
      }
      specRecipients.add(new Recipient("r" + i, r.name().strip(), r.email().strip(), pushTarget(i, r.pushTarget())));
    }
    String template = watermarkTemplate == null ? WatermarkTemplate.DEFAULT : watermarkTemplate;
    WatermarkTemplate.validate(template);
    long ttl = linkTtlSeconds == null ? defaultLinkTtlSeconds : linkTtlSeconds;
    if (ttl <= 0) {
      throw new InvalidInputException(ErrorCode.DISTRIBUTION_OPTIONS_INVALID,
          "linkTtlSeconds must be positive, was " + ttl + ".");
    }
    DistributionPriority level = DistributionPriority.parse(priority);
    if (Boolean.TRUE.equals(passwordProtect) && Boolean.TRUE.equals(pushNotification)
        && !Boolean.TRUE.equals(emailNotification)) {
      // Push records never carry the password (they stay in Kafka for its retention).
      throw new InvalidInputException(ErrorCode.DISTRIBUTION_OPTIONS_INVALID,
          "passwordProtect with pushNotification needs emailNotification too: passwords are only sent by e-mail.");
    }
    return new DistributionSpec(specFiles, specRecipients, new DistributionOptions(template,
        Boolean.TRUE.equals(passwordProtect), ttl, Boolean.TRUE.equals(emailNotification),
        Boolean.TRUE.equals(pushNotification), level.wire()));
  }

  private static PushTarget pushTarget(int i, PushTargetRequest p) {
    if (p == null) {
      return null;
    }
    String field = "recipients[" + i + "].pushTarget";
    boolean hasAddress = p.address() != null && !p.address().isBlank();
    if (hasAddress && (p.address().length() > MAX_PUSH_ADDRESS_LENGTH || p.address().chars().anyMatch(Character::isISOControl))) {
      throw new InvalidInputException(ErrorCode.DISTRIBUTION_PUSH_TARGET_INVALID,
          field + ".address must be 1-" + MAX_PUSH_ADDRESS_LENGTH + " characters without control characters.");
    }
    if ((p.raeSerial() == null) != (p.deviceSessionId() == null)) {
      throw new InvalidInputException(ErrorCode.DISTRIBUTION_PUSH_TARGET_INVALID,
          field + ": raeSerial and deviceSessionId go together (the device's MQTT topic names both).");
    }
    if (p.deviceSessionId() != null) {
      if (RaeSerial.parse(p.raeSerial()).isEmpty()) {
        throw new InvalidInputException(ErrorCode.DISTRIBUTION_PUSH_TARGET_INVALID,
            field + ".raeSerial is not a RAE serial: " + p.raeSerial());
      }
      if (DeviceSessionId.parse(p.deviceSessionId()).isEmpty()) {
        throw new InvalidInputException(ErrorCode.DISTRIBUTION_PUSH_TARGET_INVALID,
            field + ".deviceSessionId is not a device session id (a lower-case UUID): " + p.deviceSessionId());
      }
    } else if (!hasAddress) {
      throw new InvalidInputException(ErrorCode.DISTRIBUTION_PUSH_TARGET_INVALID,
          field + " needs an address, a device session (raeSerial and deviceSessionId), or both.");
    }
    return new PushTarget(hasAddress ? p.address() : null, p.raeSerial(), p.deviceSessionId());
  }
}
