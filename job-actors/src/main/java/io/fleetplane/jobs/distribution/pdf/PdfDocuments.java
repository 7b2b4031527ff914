package io.fleetplane.jobs.distribution.pdf;

import io.fleetplane.config.ErrorCode;
import io.fleetplane.config.InvalidInputException;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import javax.imageio.ImageIO;
import org.apache.pdfbox.Loader;
import org.apache.pdfbox.pdmodel.PDDocument;
import org.apache.pdfbox.pdmodel.encryption.InvalidPasswordException;
import org.apache.pdfbox.rendering.ImageType;
import org.apache.pdfbox.rendering.PDFRenderer;

/** Checks on uploaded PDFs and the page-1 thumbnail, with PDFBox. */
public final class PdfDocuments {

  /** Thumbnail resolution: 36 dpi makes an A4 page about 300 x 420 px. */
  static final float THUMBNAIL_DPI = 36f;

  private PdfDocuments() {}

  public record PdfInfo(int pages) {}

  /**
   * @throws InvalidInputException {@code document.empty}, {@code document.not-pdf} (not parseable,
   *     or no pages) or {@code document.encrypted} (a source we could not watermark)
   */
  public static PdfInfo inspect(byte[] content) {
    if (content.length == 0) {
      throw new InvalidInputException(ErrorCode.DOCUMENT_EMPTY, "The upload is empty; send the PDF as the request body.");
    }
    if (!startsWithPdfHeader(content)) {
      throw new InvalidInputException(ErrorCode.DOCUMENT_NOT_PDF,
          "The upload is not a PDF (it does not start with %PDF-).");
    }
    try (PDDocument doc = Loader.loadPDF(content)) {
      if (doc.isEncrypted()) {
        throw encrypted();
      }
      if (doc.getNumberOfPages() == 0) {
        throw new InvalidInputException(ErrorCode.DOCUMENT_NOT_PDF, "The PDF has no pages.");
      }
      return new PdfInfo(doc.getNumberOfPages());
    } catch (InvalidPasswordException e) {
      throw encrypted();
    } catch (IOException e) {
      throw new InvalidInputException(ErrorCode.DOCUMENT_NOT_PDF, "The upload is not a readable PDF: " + e.getMessage());
    }
  }

  /** A PNG of page 1, small enough for a list view. */
  public static byte[] thumbnail(byte[] content) {
    try (PDDocument doc = Loader.loadPDF(content)) {
      BufferedImage image = new PDFRenderer(doc).renderImageWithDPI(0, THUMBNAIL_DPI, ImageType.RGB);
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      ImageIO.write(image, "png", out);
      return out.toByteArray();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static boolean startsWithPdfHeader(byte[] content) {
    // The header may follow a little leading garbage; PDF readers look within the first KiB.
    String head = new String(content, 0, Math.min(content.length, 1024), StandardCharsets.ISO_8859_1);
    return head.contains("%PDF-");
  }

  private static InvalidInputException encrypted() {
    return new InvalidInputException(ErrorCode.DOCUMENT_ENCRYPTED,
        "The PDF is encrypted; upload the unprotected source (copies are protected per recipient).");
  }
}
