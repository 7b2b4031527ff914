package io.fleetplane.jobs.distribution.domain;

import io.fleetplane.config.CborSerializable;

/**
 * One source document of a distribution.
 *
 * @param documentId the content address of the uploaded PDF in the document store
 * @param name the file name copies are served under (defaults to the document id)
 */
public record DistributionFile(String documentId, String name) implements CborSerializable {}
