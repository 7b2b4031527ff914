package io.fleetplane.jobs.distribution.pdf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fleetplane.config.ErrorCode;
import io.fleetplane.config.InvalidInputException;
import io.fleetplane.jobs.distribution.TestPdfs;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import javax.imageio.ImageIO;
import org.apache.pdfbox.Loader;
import org.apache.pdfbox.pdmodel.PDDocument;
import org.apache.pdfbox.pdmodel.encryption.InvalidPasswordException;
import org.apache.pdfbox.text.PDFTextStripper;
import org.junit.jupiter.api.Test;

class WatermarkerTest {

  private static final String FP = "fpd1.3f2b8c1e-9a4d-4e7b-8c2a-1d5e6f7a8b9c.r0.AbCdEfGhIjKlMnOp";

  @Test
  void everyPageCarriesTheWatermarkAndTheFingerprint() throws IOException {
    byte[] copy = Watermarker.render(TestPdfs.script("Episode 1", 3), "Ada Lovelace - ada@example.com - 2026-11-23",
        FP, null);
    try (PDDocument doc = Loader.loadPDF(copy)) {
      assertEquals(3, doc.getNumberOfPages());
      PDFTextStripper stripper = new PDFTextStripper();
      for (int p = 1; p <= 3; p++) {
        stripper.setStartPage(p);
        stripper.setEndPage(p);
        String text = stripper.getText(doc);
        assertTrue(text.contains("Ada Lovelace - ada@example.com - 2026-11-23"), "page " + p + ": " + text);
        assertTrue(text.contains(FP), "invisible fingerprint text on page " + p);
        assertTrue(text.contains("Episode 1 - page " + p), "original content kept on page " + p);
      }
      assertEquals(FP, doc.getDocumentInformation().getCustomMetadataValue(Watermarker.FINGERPRINT_KEY));
      String xmp = new String(doc.getDocumentCatalog().getMetadata().toByteArray(), StandardCharsets.UTF_8);
      assertTrue(xmp.contains(FP), xmp);
    }
  }

  @Test
  void protectedCopiesOpenOnlyWithTheirPasswordAndUseAes256() throws IOException {
    byte[] copy = Watermarker.render(TestPdfs.script("Episode 2", 2), "Grace Hopper", FP, "s3cret-pass");
    assertThrows(InvalidPasswordException.class, () -> Loader.loadPDF(copy).close());
    assertThrows(InvalidPasswordException.class, () -> Loader.loadPDF(copy, "wrong").close());
    try (PDDocument doc = Loader.loadPDF(copy, "s3cret-pass")) {
      assertTrue(doc.isEncrypted());
      assertEquals(256, doc.getEncryption().getLength());
      doc.setAllSecurityToBeRemoved(true);
      assertTrue(new PDFTextStripper().getText(doc).contains("Grace Hopper"));
    }
  }

  @Test
  void charactersOutsideTheStandardFontDoNotFailTheCopy() throws IOException {
    byte[] copy = Watermarker.render(TestPdfs.script("E3", 1), "Zoë 山田 - z@example.com", FP, null);
    try (PDDocument doc = Loader.loadPDF(copy)) {
      String text = new PDFTextStripper().getText(doc);
      assertTrue(text.contains("Zoë ?? - z@example.com"), text);
    }
  }

  @Test
  void uploadsAreCheckedBeforeAnyWork() {
    assertEquals(ErrorCode.DOCUMENT_NOT_PDF, assertThrows(InvalidInputException.class,
        () -> PdfDocuments.inspect("hello".getBytes(StandardCharsets.UTF_8))).errorCode());
    assertEquals(ErrorCode.DOCUMENT_NOT_PDF, assertThrows(InvalidInputException.class,
        () -> PdfDocuments.inspect("%PDF-1.7 but nothing else".getBytes(StandardCharsets.UTF_8))).errorCode());
    assertEquals(ErrorCode.DOCUMENT_EMPTY, assertThrows(InvalidInputException.class,
        () -> PdfDocuments.inspect(new byte[0])).errorCode());
    assertEquals(ErrorCode.DOCUMENT_ENCRYPTED, assertThrows(InvalidInputException.class,
        () -> PdfDocuments.inspect(TestPdfs.encrypted("locked"))).errorCode());
    assertEquals(4, PdfDocuments.inspect(TestPdfs.script("ok", 4)).pages());
  }

  @Test
  void thumbnailIsAPngOfPageOne() throws IOException {
    var image = ImageIO.read(new ByteArrayInputStream(PdfDocuments.thumbnail(TestPdfs.script("thumb", 2))));
    assertTrue(image.getWidth() > 100 && image.getWidth() < 400, "width " + image.getWidth());
    assertTrue(image.getHeight() > image.getWidth(), "portrait A4");
  }
}
