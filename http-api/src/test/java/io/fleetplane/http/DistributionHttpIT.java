package io.fleetplane.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.icegreen.greenmail.util.GreenMail;
import com.icegreen.greenmail.util.ServerSetup;
import io.fleetplane.config.metrics.Metrics;
import io.fleetplane.jobs.distribution.Distributions;
import io.fleetplane.testkit.infra.FreePorts;
import io.fleetplane.testkit.infra.PostgresEndpoint;
import io.fleetplane.testkit.infra.TestPostgres;
import jakarta.mail.internet.MimeMessage;
import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.pdfbox.Loader;
import org.apache.pdfbox.pdmodel.PDDocument;
import org.apache.pdfbox.pdmodel.PDPage;
import org.apache.pdfbox.pdmodel.PDPageContentStream;
import org.apache.pdfbox.pdmodel.common.PDRectangle;
import org.apache.pdfbox.pdmodel.encryption.AccessPermission;
import org.apache.pdfbox.pdmodel.encryption.StandardProtectionPolicy;
import org.apache.pdfbox.pdmodel.font.PDType1Font;
import org.apache.pdfbox.pdmodel.font.Standard14Fonts;
import org.apache.pdfbox.text.PDFTextStripper;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The distribution API over real HTTP on a real node: uploads, validation errors as problem
 * documents, a job to completion, e-mails on an in-process SMTP server, download links, revoke,
 * cancel and identify.
 */
class DistributionHttpIT {

  private static final Pattern LINK = Pattern.compile("/d/(\\S+)");
  private static final Pattern PASSWORD = Pattern.compile("Password to open the document: (\\S+)");

  private static PostgresEndpoint db;
  private static GreenMail mail;
  private static FleetplaneNode node;
  private static int port;

  @BeforeAll
  static void start() throws Exception {
    db = TestPostgres.newSchema();
    int smtpPort = FreePorts.next();
    mail = new GreenMail(new ServerSetup(smtpPort, FreePorts.LOOPBACK, ServerSetup.PROTOCOL_SMTP));
    mail.start();
    Map<String, Object> config = NodeFixture.nodeConfig(db, "127.0.0.1:1", "tcp://127.0.0.1:1", "distribution");
    config.put("fleetplane.node.run-bridge", false);
    config.put("fleetplane.node.run-registry", false);
    config.put("fleetplane.node.metrics.kamon-agent", false);
    config.put("fleetplane.jobs.distribution.store-dir", Files.createTempDirectory("fp-dist-http-").toString());
    config.put("fleetplane.jobs.distribution.parallelism", 2);
    config.put("fleetplane.jobs.distribution.max-items", 60);
    config.put("fleetplane.jobs.distribution.smtp.port", smtpPort);
    config.put("fleetplane.jobs.distribution.smtp.host", FreePorts.LOOPBACK);
    node = NodeFixture.startNode(config);
    port = node.httpPort();
  }

  @AfterAll
  static void stop() throws Exception {
    if (node != null) {
      node.stop().toCompletableFuture().get();
    }
    if (mail != null) {
      mail.stop();
    }
    if (db != null) {
      TestPostgres.dropSchema(db);
    }
  }

  // --- helpers ---------------------------------------------------------------------------------

  static byte[] pdf(String title, int pages, boolean encrypted) throws Exception {
    try (PDDocument doc = new PDDocument()) {
      for (int p = 1; p <= pages; p++) {
        PDPage page = new PDPage(PDRectangle.A4);
        doc.addPage(page);
        try (PDPageContentStream cs = new PDPageContentStream(doc, page)) {
          cs.beginText();
          cs.setFont(new PDType1Font(Standard14Fonts.FontName.COURIER), 12);
          cs.newLineAtOffset(72, 760);
          cs.showText(title + " page " + p);
          cs.endText();
        }
      }
      if (encrypted) {
        doc.protect(new StandardProtectionPolicy("owner", "user", new AccessPermission()));
      }
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      doc.save(out);
      return out.toByteArray();
    }
  }

  static HttpResponse<byte[]> post(String path, String contentType, byte[] body) throws Exception {
    return NodeFixture.HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
        .timeout(Duration.ofSeconds(20)).header("Content-Type", contentType)
        .header("Authorization", "Bearer " + TestTokens.admin())
        .POST(HttpRequest.BodyPublishers.ofByteArray(body)).build(), HttpResponse.BodyHandlers.ofByteArray());
  }

  static HttpResponse<byte[]> postJson(String path, String json) throws Exception {
    return post(path, "application/json", json.getBytes());
  }

  static HttpResponse<byte[]> getBytes(String path) throws Exception {
    HttpRequest.Builder request = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
        .timeout(Duration.ofSeconds(20)).GET();
    if (path.startsWith("/api/")) {
      // Recipient links (/d/{token}) are fetched without one: the link is the capability.
      request.header("Authorization", "Bearer " + TestTokens.admin());
    }
    return NodeFixture.HTTP.send(request.build(), HttpResponse.BodyHandlers.ofByteArray());
  }

  static HttpResponse<byte[]> getWith(String path, String token) throws Exception {
    return NodeFixture.HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
        .timeout(Duration.ofSeconds(20)).header("Authorization", "Bearer " + token).GET().build(),
        HttpResponse.BodyHandlers.ofByteArray());
  }

  static JsonNode json(HttpResponse<byte[]> r) throws Exception {
    return NodeFixture.JSON.readTree(r.body());
  }

  static void assertProblem(HttpResponse<byte[]> r, int status, String code) throws Exception {
    assertEquals(status, r.statusCode(), new String(r.body()));
    assertEquals("application/problem+json", r.headers().firstValue("content-type").orElseThrow());
    assertEquals(code, json(r).get("code").asText(), new String(r.body()));
  }

  static String upload(String title, int pages) throws Exception {
    HttpResponse<byte[]> r = post("/api/v1/documents", "application/pdf", pdf(title, pages, false));
    assertEquals(201, r.statusCode(), new String(r.body()));
    return json(r).get("documentId").asText();
  }

  static final String BOUNDARY = "fleetplane-test-boundary-7f3a";
  static final String MULTIPART = "multipart/form-data; boundary=" + BOUNDARY;

  /** A multipart/form-data body; each part is {name, fileName or null, content type, bytes}. */
  static byte[] multipart(Object[]... parts) throws Exception {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (Object[] part : parts) {
      out.write(("--" + BOUNDARY + "\r\nContent-Disposition: form-data; name=\"" + part[0] + "\""
          + (part[1] == null ? "" : "; filename=\"" + part[1] + "\"") + "\r\nContent-Type: " + part[2] + "\r\n\r\n")
          .getBytes(java.nio.charset.StandardCharsets.UTF_8));
      out.write((byte[]) part[3]);
      out.write("\r\n".getBytes(java.nio.charset.StandardCharsets.UTF_8));
    }
    out.write(("--" + BOUNDARY + "--\r\n").getBytes(java.nio.charset.StandardCharsets.UTF_8));
    return out.toByteArray();
  }

  static Object[] filePart(String fileName, byte[] content) {
    return new Object[] {"file", fileName, "application/pdf", content};
  }

  static Object[] specPart(String json) {
    return new Object[] {"spec", null, "application/json", json.getBytes(java.nio.charset.StandardCharsets.UTF_8)};
  }

  static String recipients(String prefix, int n) {
    List<String> list = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      list.add("{\"name\":\"" + prefix + " " + i + "\",\"email\":\"" + prefix.toLowerCase() + i + "@example.com\"}");
    }
    return "[" + String.join(",", list) + "]";
  }

  static String files(String... ids) {
    List<String> list = new ArrayList<>();
    for (String id : ids) {
      list.add("{\"documentId\":\"" + id + "\"}");
    }
    return "[" + String.join(",", list) + "]";
  }

  static JsonNode awaitStatus(String id, String status) {
    HttpResponse<String> r = NodeFixture.awaitResponse(port, "/api/v1/distributions/" + id,
        resp -> resp.statusCode() == 200 && resp.body().contains("\"status\":\"" + status + "\""), Duration.ofSeconds(60));
    try {
      return NodeFixture.JSON.readTree(r.body());
    } catch (Exception e) {
      throw new AssertionError(e);
    }
  }

  // --- tests -----------------------------------------------------------------------------------

  @Test
  void jobsNeedATokenWithJobScopes() throws Exception {
    String body = "{\"documents\":[],\"recipients\":[]}";
    HttpResponse<String> anonymous = NodeFixture.HTTP.send(HttpRequest.newBuilder(
            URI.create("http://127.0.0.1:" + port + "/api/v1/distributions"))
        .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
        HttpResponse.BodyHandlers.ofString());
    assertEquals(401, anonymous.statusCode(), anonymous.body());
    String readOnly = TestTokens.token(java.util.Set.of(io.fleetplane.http.auth.Scope.JOBS_READ), List.of("*"));
    HttpResponse<String> reader = NodeFixture.HTTP.send(HttpRequest.newBuilder(
            URI.create("http://127.0.0.1:" + port + "/api/v1/distributions"))
        .header("Content-Type", "application/json").header("Authorization", "Bearer " + readOnly)
        .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    assertEquals(403, reader.statusCode(), reader.body());
    String devicesOnly = TestTokens.token(java.util.Set.of(io.fleetplane.http.auth.Scope.DEVICES_READ), List.of("*"));
    HttpResponse<String> deviceReader = NodeFixture.HTTP.send(HttpRequest.newBuilder(
            URI.create("http://127.0.0.1:" + port + "/api/v1/distributions/unknown-job"))
        .header("Authorization", "Bearer " + devicesOnly).GET().build(), HttpResponse.BodyHandlers.ofString());
    assertEquals(403, deviceReader.statusCode(), deviceReader.body());
  }

  @Test
  void uploadsAreCheckedAndGetAThumbnail() throws Exception {
    assertProblem(post("/api/v1/documents", "application/pdf", "hello, not a pdf".getBytes()), 400, "document.not-pdf");
    assertProblem(post("/api/v1/documents", "application/pdf", pdf("locked", 1, true)), 400, "document.encrypted");
    String id = upload("Thumb", 2);
    HttpResponse<byte[]> thumb = getBytes("/api/v1/documents/" + id + "/thumbnail");
    assertEquals(200, thumb.statusCode());
    assertEquals("image/png", thumb.headers().firstValue("content-type").orElseThrow());
    assertEquals((byte) 0x89, thumb.body()[0]);
    assertEquals('P', thumb.body()[1]);
  }

  @Test
  void badDistributionsAreRejectedUpFrontWithPreciseCodes() throws Exception {
    String doc = upload("Valid", 1);
    long before = Metrics.count(Distributions.METRIC_REJECTED, Map.of("code", "distribution.recipients-empty"));
    assertProblem(postJson("/api/v1/distributions", "{\"files\":" + files(doc) + ",\"recipients\":[]}"),
        400, "distribution.recipients-empty");
    assertEquals(before + 1, Metrics.count(Distributions.METRIC_REJECTED, Map.of("code", "distribution.recipients-empty")));
    assertProblem(postJson("/api/v1/distributions", "{\"files\":[],\"recipients\":" + recipients("A", 1) + "}"),
        400, "distribution.files-empty");
    assertProblem(postJson("/api/v1/distributions", "{\"files\":" + files(doc) + ",\"recipients\":["
        + "{\"name\":\"A\",\"email\":\"a@example.com\"},{\"name\":\"B\",\"email\":\"A@Example.com\"}]}"),
        400, "distribution.recipient-duplicate");
    assertProblem(postJson("/api/v1/distributions", "{\"files\":" + files(doc, doc, doc) + ",\"recipients\":"
        + recipients("Many", 21) + "}"), 400, "distribution.too-many-items");
    assertProblem(postJson("/api/v1/distributions", "{\"files\":" + files("f".repeat(64)) + ",\"recipients\":"
        + recipients("A", 1) + "}"), 400, "document.not-found");
    assertProblem(postJson("/api/v1/distributions", "{\"files\":" + files(doc) + ",\"recipients\":"
        + recipients("A", 1) + ",\"watermarkTemplate\":\"{recipient.phone}\"}"), 400, "distribution.template-invalid");
    assertProblem(postJson("/api/v1/distributions", "{not json"), 400, "request.json-malformed");
    assertProblem(getBytes("/api/v1/distributions/not-a-uuid"), 400, "distribution.id-invalid");
    assertProblem(getBytes("/api/v1/distributions/3f2b8c1e-9a4d-4e7b-8c2a-1d5e6f7a8b9c"), 404, "distribution.not-found");
  }

  @Test
  void aJobRunsToCompletionAndItsLinksServeRevokeAndIdentify() throws Exception {
    String a = upload("Episode A", 2);
    String b = upload("Episode B", 3);
    HttpResponse<byte[]> created = postJson("/api/v1/distributions", "{\"files\":" + files(a, b)
        + ",\"recipients\":" + recipients("Cast", 3) + ",\"passwordProtect\":true,\"emailNotification\":true}");
    assertEquals(202, created.statusCode(), new String(created.body()));
    String id = json(created).get("id").asText();
    assertEquals("/api/v1/distributions/" + id, created.headers().firstValue("location").orElseThrow());

    JsonNode done = awaitStatus(id, "completed");
    assertEquals(6, done.get("counts").get("completed").asInt());
    JsonNode items = json(getBytes("/api/v1/distributions/" + id + "/items?state=completed&limit=4"));
    assertEquals(6, items.get("total").asInt());
    assertEquals(4, items.get("items").size());
    assertTrue(items.get("items").get(0).get("copyDocumentId").asText().matches("[0-9a-f]{64}"));
    // Links are capabilities: the same page read with jobs:read has no link field, with jobs:write it has
    // one that serves the copy.
    String reader = TestTokens.token(java.util.Set.of(io.fleetplane.http.auth.Scope.JOBS_READ), List.of("*"));
    String writer = TestTokens.token(java.util.Set.of(io.fleetplane.http.auth.Scope.JOBS_READ,
        io.fleetplane.http.auth.Scope.JOBS_WRITE), List.of("*"));
    JsonNode readerItems = json(getWith("/api/v1/distributions/" + id + "/items", reader));
    assertEquals(6, readerItems.get("items").size());
    readerItems.get("items").forEach(i -> {
      assertFalse(i.has("link"), "jobs:read caller saw a link: " + i);
      assertEquals("completed", i.get("state").asText());
    });
    JsonNode writerItems = json(getWith("/api/v1/distributions/" + id + "/items", writer));
    assertEquals(6, writerItems.get("items").size());
    writerItems.get("items").forEach(i ->
        assertTrue(i.has("link") && i.get("link").asText().contains("/d/" + id + "."), "no link for jobs:write: " + i));
    String viaApi = writerItems.get("items").get(0).get("link").asText();
    assertEquals(200, getBytes(viaApi.substring(viaApi.indexOf("/d/"))).statusCode());

    io.fleetplane.testkit.Eventually.await(Duration.ofSeconds(10), () -> mailsFor(id).size() == 6, () -> "6 mails");
    String revokedToken = null;
    String keptToken = null;
    for (MimeMessage m : mailsFor(id)) {
      String body = m.getContent().toString();
      Matcher link = LINK.matcher(body);
      Matcher password = PASSWORD.matcher(body);
      assertTrue(link.find() && password.find(), body);
      String to = m.getAllRecipients()[0].toString();
      HttpResponse<byte[]> copy = getBytes("/d/" + link.group(1));
      assertEquals(200, copy.statusCode());
      assertEquals("application/pdf", copy.headers().firstValue("content-type").orElseThrow());
      try (PDDocument doc = Loader.loadPDF(copy.body(), password.group(1))) {
        String name = to.replaceAll(".*cast(\\d)@.*", "Cast $1");
        String text = new PDFTextStripper().getText(doc);
        assertTrue(text.contains(name + " - " + to.replaceAll(".*<|>.*", "")), name + " watermark in " + text);
        if (to.contains("cast1@")) {
          revokedToken = link.group(1);
          doc.setAllSecurityToBeRemoved(true);
          ByteArrayOutputStream plain = new ByteArrayOutputStream();
          doc.save(plain);
          HttpResponse<byte[]> who = post("/api/v1/documents/identify", "application/pdf", plain.toByteArray());
          assertEquals(200, who.statusCode(), new String(who.body()));
          assertEquals(id, json(who).get("distributionId").asText());
          assertEquals("cast1@example.com", json(who).get("recipientEmail").asText());
        } else {
          keptToken = link.group(1);
        }
      }
    }
    HttpResponse<byte[]> revoke = post("/api/v1/distributions/" + id + "/recipients/r1/actions/revoke",
        "application/json", new byte[0]);
    assertEquals(200, revoke.statusCode(), new String(revoke.body()));
    assertEquals(2, json(revoke).get("revokedLinks").asInt());
    assertProblem(getBytes("/d/" + revokedToken), 410, "link.revoked");
    assertEquals(200, getBytes("/d/" + keptToken).statusCode());
    assertProblem(getBytes("/d/" + id + ".f0-r0.forged"), 404, "link.not-found");
    assertProblem(post("/api/v1/distributions/" + id + "/recipients/r9/actions/revoke", "application/json",
        new byte[0]), 404, "distribution.recipient-not-found");
    assertProblem(post("/api/v1/distributions/" + id + "/actions/cancel", "application/json", new byte[0]),
        409, "distribution.not-cancellable");
    assertProblem(post("/api/v1/documents/identify", "application/pdf", pdf("clean", 1, false)),
        404, "document.fingerprint-not-found");

    // The timeline: every change, from the journal, in order, paged.
    JsonNode timeline = json(getBytes("/api/v1/distributions/" + id + "/timeline"));
    List<String> types = new ArrayList<>();
    timeline.get("entries").forEach(e -> types.add(e.get("type").asText()));
    assertEquals("job-created", types.get(0));
    assertEquals(6, types.stream().filter("item-rendered"::equals).count());
    assertEquals(6, types.stream().filter("item-notified"::equals).count());
    assertTrue(types.indexOf("job-finished") > types.lastIndexOf("item-notified"), types.toString());
    assertTrue(types.contains("links-revoked") && types.contains("link-downloaded"), types.toString());
    timeline.get("entries").forEach(e -> {
      if (e.get("type").asText().equals("item-rendered")) {
        assertTrue(e.get("attempts").asInt() >= 1 && e.get("itemId").asText().matches("f[01]-r[0-2]"), e.toString());
      }
    });
    JsonNode page = json(getBytes("/api/v1/distributions/" + id + "/timeline?limit=2"));
    assertEquals(2, page.get("entries").size());
    JsonNode rest = json(getBytes(page.get("next").asText()));
    assertEquals(types.get(2), rest.get("entries").get(0).get("type").asText());
  }

  @Test
  void multipartUploadsStoreEveryFileAndFeedADistribution() throws Exception {
    // Documents: several PDFs in one request, answered in order with their part file names.
    HttpResponse<byte[]> docs = post("/api/v1/documents", MULTIPART,
        multipart(filePart("one.pdf", pdf("Multi one", 1, false)), filePart("two.pdf", pdf("Multi two", 2, false))));
    assertEquals(201, docs.statusCode(), new String(docs.body()));
    JsonNode stored = json(docs).get("documents");
    assertEquals(2, stored.size());
    assertEquals("one.pdf", stored.get(0).get("fileName").asText());
    assertEquals(2, stored.get(1).get("pages").asInt());
    assertEquals(200, getBytes(stored.get(1).get("thumbnail").asText()).statusCode());

    // Distributions: a spec part whose files refer to a part of the same request and to an earlier upload.
    String earlier = stored.get(0).get("documentId").asText();
    HttpResponse<byte[]> created = post("/api/v1/distributions", MULTIPART, multipart(
        specPart("{\"files\":[{\"part\":\"script.pdf\"},{\"documentId\":\"" + earlier + "\",\"name\":\"Earlier.pdf\"}],"
            + "\"recipients\":" + recipients("Multi", 2) + "}"),
        filePart("script.pdf", pdf("Multi script", 1, false))));
    assertEquals(202, created.statusCode(), new String(created.body()));
    String id = json(created).get("id").asText();
    assertEquals(2, json(created).get("files").asInt());
    awaitStatus(id, "completed");
    JsonNode items = json(getBytes("/api/v1/distributions/" + id + "/items"));
    assertEquals(4, items.get("total").asInt());
    List<String> names = new ArrayList<>();
    items.get("items").forEach(i -> names.add(i.get("fileName").asText()));
    assertTrue(names.contains("script.pdf") && names.contains("Earlier.pdf"), names.toString());
  }

  @Test
  void cancelStopsTheRemainingWork() throws Exception {
    String[] docs = new String[5];
    for (int i = 0; i < docs.length; i++) {
      docs[i] = upload("Long " + i, 30);
    }
    HttpResponse<byte[]> created = postJson("/api/v1/distributions", "{\"files\":" + files(docs)
        + ",\"recipients\":" + recipients("Busy", 12) + "}");
    assertEquals(202, created.statusCode(), new String(created.body()));
    String id = json(created).get("id").asText();
    HttpResponse<byte[]> cancel = post("/api/v1/distributions/" + id + "/actions/cancel", "application/json", new byte[0]);
    assertEquals(200, cancel.statusCode(), new String(cancel.body()));
    assertEquals("cancelled", json(cancel).get("status").asText());
    JsonNode summary = awaitStatus(id, "cancelled");
    assertTrue(summary.get("counts").get("cancelled").asInt() > 0, summary.toString());
    assertEquals(0, summary.get("counts").get("pending").asInt());
    JsonNode cancelled = json(getBytes("/api/v1/distributions/" + id + "/items?state=cancelled"));
    assertEquals(summary.get("counts").get("cancelled").asInt(), cancelled.get("total").asInt());
  }

  private static List<MimeMessage> mailsFor(String jobId) {
    List<MimeMessage> found = new ArrayList<>();
    try {
      for (MimeMessage m : mail.getReceivedMessages()) {
        if (m.getMessageID() != null && m.getMessageID().startsWith("<" + jobId + ".")) {
          found.add(m);
        }
      }
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
    return found;
  }
}
