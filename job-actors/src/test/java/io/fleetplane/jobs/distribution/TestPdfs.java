package io.fleetplane.jobs.distribution;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import org.apache.pdfbox.pdmodel.PDDocument;
import org.apache.pdfbox.pdmodel.PDPage;
import org.apache.pdfbox.pdmodel.PDPageContentStream;
import org.apache.pdfbox.pdmodel.common.PDRectangle;
import org.apache.pdfbox.pdmodel.encryption.AccessPermission;
import org.apache.pdfbox.pdmodel.encryption.StandardProtectionPolicy;
import org.apache.pdfbox.pdmodel.font.PDType1Font;
import org.apache.pdfbox.pdmodel.font.Standard14Fonts;

/** Real multi-page PDFs made with PDFBox, as a production coordinator's script would be. */
public final class TestPdfs {

  private TestPdfs() {}

  public static byte[] script(String title, int pages) {
    return build(title, pages, null);
  }

  public static byte[] encrypted(String title) {
    return build(title, 1, "owner-secret");
  }

  private static byte[] build(String title, int pages, String password) {
    try (PDDocument doc = new PDDocument()) {
      var font = new PDType1Font(Standard14Fonts.FontName.COURIER);
      for (int p = 1; p <= pages; p++) {
        PDPage page = new PDPage(PDRectangle.A4);
        doc.addPage(page);
        try (PDPageContentStream cs = new PDPageContentStream(doc, page)) {
          cs.beginText();
          cs.setFont(font, 12);
          cs.newLineAtOffset(72, 760);
          cs.showText(title + " - page " + p);
          for (int line = 0; line < 40; line++) {
            cs.newLineAtOffset(0, -16);
            cs.showText("INT. SOUNDSTAGE " + p + " - DAY. Line " + line + " of the scene.");
          }
          cs.endText();
        }
      }
      if (password != null) {
        StandardProtectionPolicy policy = new StandardProtectionPolicy(password, "user", new AccessPermission());
        policy.setEncryptionKeyLength(128);
        doc.protect(policy);
      }
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      doc.save(out);
      return out.toByteArray();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
