package io.fleetplane.jobs.distribution.domain;

import io.fleetplane.config.CborSerializable;

/**
 * How each copy is made and delivered.
 *
 * @param watermarkTemplate visible text stamped on every page, with placeholders ({@link WatermarkTemplate})
 * @param passwordProtect encrypt each copy (AES-256) with a per-recipient password sent in the e-mail
 * @param linkTtlSeconds how long a recipient's download link stays valid after its copy is made
 * @param emailNotification send each recipient an e-mail with the link (and password)
 */
public record DistributionOptions(
    String watermarkTemplate,
    boolean passwordProtect,
    long linkTtlSeconds,
    boolean emailNotification) implements CborSerializable {}
