package io.fleetplane.jobs.distribution.domain;

import io.fleetplane.config.CborSerializable;

/**
 * One person a distribution sends copies to.
 *
 * @param id deterministic within its job ({@code r0}, {@code r1}, ... in request order): item ids,
 *     links and revocation name it, so it must never depend on anything but the request
 * @param name shown in the watermark and the e-mail greeting
 * @param email where the notification goes; unique within a job (case-insensitive)
 * @param pushTarget where push notifications go besides the topic; null when none (and in every
 *     job journaled before push targets existed)
 */
public record Recipient(String id, String name, String email, PushTarget pushTarget) implements CborSerializable {

  /** A recipient without a push target. */
  public Recipient(String id, String name, String email) {
    this(id, name, email, null);
  }
}
