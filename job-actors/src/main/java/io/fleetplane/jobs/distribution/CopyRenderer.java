package io.fleetplane.jobs.distribution;

import java.io.IOException;

/**
 * Makes one recipient's copy. The production implementation is
 * {@link io.fleetplane.jobs.distribution.pdf.Watermarker#render}; tests wrap it to count renders
 * or slow them down.
 */
@FunctionalInterface
public interface CopyRenderer {

  /**
   * @param password null for an unprotected copy
   * @throws IOException the source cannot be read as a PDF (permanent: not retried)
   */
  byte[] render(String jobId, String itemId, byte[] source, String watermark, String fingerprint, String password)
      throws IOException;

  CopyRenderer PDFBOX = (jobId, itemId, source, watermark, fingerprint, password) ->
      io.fleetplane.jobs.distribution.pdf.Watermarker.render(source, watermark, fingerprint, password);
}
