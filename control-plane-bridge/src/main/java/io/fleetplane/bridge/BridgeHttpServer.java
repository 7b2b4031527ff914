package io.fleetplane.bridge;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.BindException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The standalone bridge's operations endpoints on the JDK's built-in HTTP server (the bridge
 * must not depend on Akka HTTP): {@code GET /health} answers 200 when healthy and 503 when
 * degraded, with JSON naming the part that is not up; {@code GET /metrics} answers the bridge's
 * series as Prometheus text. Anything else is 404 (405 for other methods).
 */
public final class BridgeHttpServer implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(BridgeHttpServer.class);
  private static final ObjectMapper JSON = new ObjectMapper();

  private final HttpServer server;
  private final ExecutorService executor;

  private BridgeHttpServer(HttpServer server, ExecutorService executor) {
    this.server = server;
    this.executor = executor;
  }

  /**
   * Binds {@code host:port} (port 0 picks a free one) and serves the bridge's health and metrics.
   *
   * @throws IllegalStateException if the address is taken, saying which key to change
   */
  public static BridgeHttpServer start(String host, int port, Supplier<? extends HealthReport> health,
      Supplier<String> metricsText) {
    HttpServer server;
    try {
      server = HttpServer.create(new InetSocketAddress(host, port), 16);
    } catch (BindException e) {
      throw new IllegalStateException("Cannot serve bridge health on " + host + ":" + port + " (" + e.getMessage()
          + "): another process uses it. Set fleetplane.bridge.http.port (FLEETPLANE_BRIDGE_HTTP_PORT)"
          + " to a free port, or 0 for any.", e);
    } catch (IOException e) {
      throw new UncheckedIOException("Cannot serve bridge health on " + host + ":" + port, e);
    }
    // Two threads: a scrape and a health probe at once is the most this ever sees.
    ExecutorService executor = Executors.newFixedThreadPool(2, r -> {
      Thread t = new Thread(r, "fleetplane-bridge-http");
      t.setDaemon(true);
      return t;
    });
    server.setExecutor(executor);
    server.createContext("/", exchange -> {
      try {
        String path = exchange.getRequestURI().getPath();
        if (!path.equals("/health") && !path.equals("/metrics")) {
          send(exchange, 404, "application/json", json(Map.of("error", "route.not-found",
              "detail", "try GET /health or GET /metrics")));
        } else if (!exchange.getRequestMethod().equals("GET") && !exchange.getRequestMethod().equals("HEAD")) {
          exchange.getResponseHeaders().add("Allow", "GET, HEAD");
          send(exchange, 405, "application/json", json(Map.of("error", "request.method-not-allowed")));
        } else if (path.equals("/health")) {
          HealthReport h = health.get();
          send(exchange, h.healthy() ? 200 : 503, "application/json", json(h.toJson()));
        } else {
          send(exchange, 200, "text/plain; version=0.0.4; charset=utf-8", metricsText.get());
        }
      } catch (RuntimeException e) {
        log.warn("Bridge HTTP request {} failed", exchange.getRequestURI(), e);
      } finally {
        exchange.close();
      }
    });
    server.start();
    BridgeHttpServer started = new BridgeHttpServer(server, executor);
    log.info("Bridge health and metrics on http://{}:{}/health and /metrics", host, started.port());
    return started;
  }

  public int port() {
    return server.getAddress().getPort();
  }

  @Override
  public void close() {
    server.stop(0);
    executor.shutdownNow();
  }

  private static String json(Object value) {
    try {
      return JSON.writeValueAsString(value);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static void send(HttpExchange exchange, int status, String contentType, String body)
      throws IOException {
    byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
    exchange.getResponseHeaders().set("Content-Type", contentType);
    exchange.getResponseHeaders().set("Cache-Control", "no-store");
    boolean head = exchange.getRequestMethod().equals("HEAD");
    exchange.sendResponseHeaders(status, head ? -1 : bytes.length);
    if (!head) {
      try (OutputStream out = exchange.getResponseBody()) {
        out.write(bytes);
      }
    }
  }
}
