package io.fleetplane.jobs.distribution.pdf;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.Base64;
import org.apache.pdfbox.Loader;
import org.apache.pdfbox.pdmodel.PDDocument;
import org.apache.pdfbox.pdmodel.PDPage;
import org.apache.pdfbox.pdmodel.PDPageContentStream;
import org.apache.pdfbox.pdmodel.common.PDMetadata;
import org.apache.pdfbox.pdmodel.common.PDRectangle;
import org.apache.pdfbox.pdmodel.encryption.AccessPermission;
import org.apache.pdfbox.pdmodel.encryption.StandardProtectionPolicy;
import org.apache.pdfbox.pdmodel.font.PDFont;
import org.apache.pdfbox.pdmodel.font.PDType1Font;
import org.apache.pdfbox.pdmodel.font.Standard14Fonts;
import org.apache.pdfbox.pdmodel.graphics.state.PDExtendedGraphicsState;
import org.apache.pdfbox.pdmodel.graphics.state.RenderingMode;
import org.apache.pdfbox.util.Matrix;

/**
 * Makes one recipient's copy of a PDF: a visible watermark on every page (a large translucent
 * diagonal stamp plus a small footer line, so the text survives cropping), an invisible
 * fingerprint (document-information entry, XMP entry, and invisible text on every page, so
 * stripping the metadata alone does not remove it), and optionally AES-256 encryption.
 */
public final class Watermarker {

  /** Document-information key (and XMP property) that carries the fingerprint. */
  public static final String FINGERPRINT_KEY = "FleetplaneFingerprint";

  private static final SecureRandom RANDOM = new SecureRandom();

  private Watermarker() {}

  /**
   * @param userPassword null for an unprotected copy; otherwise the password that opens it
   * @throws IOException when the source cannot be parsed or written (a corrupt source: permanent)
   */
  public static byte[] render(byte[] source, String watermark, String fingerprint, String userPassword)
      throws IOException {
    try (PDDocument doc = Loader.loadPDF(source)) {
      PDFont font = new PDType1Font(Standard14Fonts.FontName.HELVETICA_BOLD);
      String text = encodable(font, watermark);
      PDExtendedGraphicsState translucent = new PDExtendedGraphicsState();
      translucent.setNonStrokingAlphaConstant(0.25f);
      for (PDPage page : doc.getPages()) {
        stamp(doc, page, font, text, fingerprint, translucent);
      }
      doc.getDocumentInformation().setCustomMetadataValue(FINGERPRINT_KEY, fingerprint);
      PDMetadata xmp = new PDMetadata(doc);
      xmp.importXMPMetadata(xmp(fingerprint).getBytes(StandardCharsets.UTF_8));
      doc.getDocumentCatalog().setMetadata(xmp);
      if (userPassword != null) {
        // The owner password is random and thrown away: nobody may lift the restrictions.
        byte[] owner = new byte[24];
        RANDOM.nextBytes(owner);
        AccessPermission permissions = new AccessPermission();
        permissions.setCanModify(false);
        permissions.setCanExtractContent(false);
        StandardProtectionPolicy policy = new StandardProtectionPolicy(
            Base64.getEncoder().encodeToString(owner), userPassword, permissions);
        policy.setEncryptionKeyLength(256);
        policy.setPreferAES(true);
        doc.protect(policy);
      }
      ByteArrayOutputStream out = new ByteArrayOutputStream(source.length + 4096);
      doc.save(out);
      return out.toByteArray();
    }
  }

  private static void stamp(PDDocument doc, PDPage page, PDFont font, String text, String fingerprint,
      PDExtendedGraphicsState translucent) throws IOException {
    PDRectangle box = page.getCropBox();
    float width = box.getWidth();
    float height = box.getHeight();
    float textUnits = font.getStringWidth(text) / 1000f;
    try (PDPageContentStream cs = new PDPageContentStream(doc, page, PDPageContentStream.AppendMode.APPEND, true, true)) {
      // Diagonal stamp across the page, sized to fit the diagonal.
      double diagonal = Math.hypot(width, height);
      float size = (float) Math.max(8, Math.min(48, diagonal * 0.8 / Math.max(textUnits, 1)));
      double angle = Math.atan2(height, width);
      cs.saveGraphicsState();
      cs.setGraphicsStateParameters(translucent);
      cs.setNonStrokingColor(0.5f, 0.5f, 0.5f);
      cs.beginText();
      cs.setFont(font, size);
      float half = textUnits * size / 2;
      float cx = box.getLowerLeftX() + width / 2;
      float cy = box.getLowerLeftY() + height / 2;
      cs.setTextMatrix(new Matrix((float) Math.cos(angle), (float) Math.sin(angle),
          (float) -Math.sin(angle), (float) Math.cos(angle),
          (float) (cx - half * Math.cos(angle)), (float) (cy - half * Math.sin(angle))));
      cs.showText(text);
      cs.endText();
      cs.restoreGraphicsState();

      // A small horizontal footer: stays legible when the diagonal is cropped or printed lightly.
      float footerSize = (float) Math.max(4, Math.min(8, (width - 20) / Math.max(textUnits, 1)));
      cs.beginText();
      cs.setFont(font, footerSize);
      cs.setNonStrokingColor(0.35f, 0.35f, 0.35f);
      cs.newLineAtOffset(box.getLowerLeftX() + 10, box.getLowerLeftY() + 6);
      cs.showText(text);
      cs.endText();

      // Invisible (render mode "neither") text: survives metadata stripping, found by text extraction.
      cs.beginText();
      cs.setRenderingMode(RenderingMode.NEITHER);
      cs.setFont(font, 1);
      cs.newLineAtOffset(box.getLowerLeftX() + 1, box.getLowerLeftY() + 1);
      cs.showText(fingerprint);
      cs.endText();
    }
  }

  /** The standard fonts cover WinAnsi only; other characters become '?' rather than failing the copy. */
  static String encodable(PDFont font, String text) {
    StringBuilder out = new StringBuilder(text.length());
    text.codePoints().forEach(cp -> {
      String ch = new String(Character.toChars(cp));
      try {
        font.encode(ch);
        out.append(ch);
      } catch (IOException | IllegalArgumentException e) {
        out.append('?');
      }
    });
    return out.toString();
  }

  private static String xmp(String fingerprint) {
    return "<?xpacket begin=\"\uFEFF\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>"
        + "<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">"
        + "<rdf:Description rdf:about=\"\" xmlns:fp=\"https://fleetplane.io/ns/distribution/1.0/\">"
        + "<fp:" + FINGERPRINT_KEY + ">" + fingerprint + "</fp:" + FINGERPRINT_KEY + ">"
        + "</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end=\"w\"?>";
  }
}
