package io.fleetplane.jobs.distribution.domain;

import io.fleetplane.config.CborSerializable;

/**
 * How each copy is made and delivered.
 *
 * @param watermarkTemplate visible text stamped on every page, with placeholders ({@link WatermarkTemplate})
 * @param passwordProtect encrypt each copy (AES-256) with a per-recipient password sent in the e-mail
 * @param linkTtlSeconds how long a recipient's download link stays valid after its copy is made
 * @param emailNotification send each recipient an e-mail with the link (and password)
 * @param pushNotification publish each item's notification on {@code fleet.notifications} (and to
 *     the recipient's device session, if its push target names one); false in jobs journaled before
 *     push existed
 * @param priority {@link DistributionPriority#wire()}; null (jobs journaled before priorities) is normal
 */
public record DistributionOptions(
    String watermarkTemplate,
    boolean passwordProtect,
    long linkTtlSeconds,
    boolean emailNotification,
    boolean pushNotification,
    String priority) implements CborSerializable {

  /** Without push, at normal priority. */
  public DistributionOptions(String watermarkTemplate, boolean passwordProtect, long linkTtlSeconds,
      boolean emailNotification) {
    this(watermarkTemplate, passwordProtect, linkTtlSeconds, emailNotification, false, null);
  }

  /** Whether an item has a notify step after its copy is made (any channel). */
  public boolean notifies() {
    return emailNotification || pushNotification;
  }

  public DistributionPriority priorityLevel() {
    return priority == null ? DistributionPriority.NORMAL : DistributionPriority.parse(priority);
  }
}
