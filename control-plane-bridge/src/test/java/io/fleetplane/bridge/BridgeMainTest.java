package io.fleetplane.bridge;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** The command-line contract; starting the process for real is BridgeProcessKillIT's job. */
class BridgeMainTest {

  private final ByteArrayOutputStream out = new ByteArrayOutputStream();
  private final ByteArrayOutputStream err = new ByteArrayOutputStream();

  private int run(String... args) {
    return BridgeMain.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
        new PrintStream(err, true, StandardCharsets.UTF_8));
  }

  @Test
  void helpPrintsUsageAndExitsZero() {
    assertEquals(0, run("--help"));
    assertTrue(out.toString(StandardCharsets.UTF_8).contains("FLEETPLANE_BRIDGE_HTTP_PORT"));
  }

  @Test
  void unknownArgumentsAndMissingFilesExitTwo() {
    assertEquals(2, run("--bogus"));
    assertEquals(2, run("--config", "/nonexistent/bridge.conf"));
    assertTrue(err.toString(StandardCharsets.UTF_8).contains("--config needs a readable HOCON file"));
  }
}
