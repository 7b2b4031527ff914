package io.fleetplane.testkit.canary;

import akka.actor.typed.ActorRef;
import akka.actor.typed.Behavior;
import akka.actor.typed.PostStop;
import akka.actor.typed.javadsl.ActorContext;
import akka.actor.typed.javadsl.Behaviors;
import akka.actor.typed.javadsl.TimerScheduler;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fleetplane.config.ids.CanaryTag;
import io.fleetplane.config.ids.DeviceSessionId;
import io.fleetplane.config.ids.DeviceTopic;
import io.fleetplane.config.ids.RaeSerial;
import io.fleetplane.testkit.device.DeviceMqttException;
import io.fleetplane.testkit.device.DeviceSimulator;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.CompletableFuture;

/**
 * One simulated device of a canary run: one real MQTT client ({@link DeviceSimulator}) and one
 * device session. On {@link Connect} it connects, publishes its pattern (connection event,
 * updates and checkpoints, connection event), disconnects, then checks over HTTP that the
 * session's final state is what it published, and tells the coordinator each step.
 *
 * <p>It starts checking when the coordinator says so ({@link CheckNow}), or at its verify deadline
 * if nobody does: polling from the moment publishing ends made a 3,000-client burst send ~14
 * requests per session while the pipeline drained, a tenth of the node's CPU and most of the
 * canary's own.
 *
 * <p>Blocking MQTT calls (connect, acknowledged publish) run on the run's MQTT executor and come
 * back as messages, so thousands of these actors share a few dispatcher threads. Its MQTT client
 * is closed whatever happens, when the actor stops.
 */
final class CanaryDevice {

  // --- commands --------------------------------------------------------------------------------

  sealed interface Command {}

  /** Start: connect, publish, verify. Sent by the coordinator as the ramp allows. */
  record Connect() implements Command {}

  /**
   * Check the session over HTTP now: sent by the coordinator once the node's counters say the
   * session's messages have probably been processed.
   */
  record CheckNow() implements Command {}

  private record Connected(DeviceSimulator simulator) implements Command {}

  private record ConnectFailed(String reason) implements Command {}

  private record Acked(int index, long sentAtMillis) implements Command {}

  private record PublishFailed(int index, String reason) implements Command {}

  private record PublishNext() implements Command {}

  private record Poll() implements Command {}

  private record Observed(CanaryHttp.DeviceRead read) implements Command {}

  // --- reports to the coordinator ---------------------------------------------------------------

  sealed interface Report {
    int device();
  }

  record ReportConnected(int device) implements Report {}

  record ReportConnectFailed(int device, String reason) implements Report {}

  record ReportAcked(int device) implements Report {}

  record ReportPublishFailed(int device, String reason) implements Report {}

  /** Publishing is over; the session waits for {@link CheckNow} (or its verify deadline). */
  record ReportAwaitingCheck(int device) implements Report {}

  /** The session showed its final state; latency = last publish sent -> applied by the entity. */
  record ReportVerified(int device, long latencyMillis, long visibleMessages) implements Report {}

  /** The session did not show its final state in time; {@code observed} is what it showed. */
  record ReportUnverified(int device, String reason, long visibleMessages) implements Report {}

  // --- behaviour -------------------------------------------------------------------------------

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String POLL_TIMER = "poll";

  private final int index;
  private final String runId;
  private final RaeSerial rae;
  private final DeviceSessionId session;
  private final CanarySettings settings;
  private final CanaryMqtt mqtt;
  private final CanaryHttp http;
  private final ActorRef<Report> coordinator;
  private final ActorContext<Command> context;
  private final TimerScheduler<Command> timers;
  private final String pad;

  private DeviceSimulator simulator;
  private int nextIndex;
  private long lastSentAtMillis;
  private long verifyDeadlineMillis;
  private Duration pollDelay;
  private final Duration maxPoll;
  private String lastObservation = "nothing yet";
  private long lastVisible;
  private boolean checking;

  private CanaryDevice(int index, String runId, DeviceSessionId session, CanarySettings settings, CanaryMqtt mqtt,
      CanaryHttp http, ActorRef<Report> coordinator, ActorContext<Command> context, TimerScheduler<Command> timers) {
    this.index = index;
    this.runId = runId;
    this.rae = CanaryTag.raeFor(runId);
    this.session = session;
    this.settings = settings;
    this.mqtt = mqtt;
    this.http = http;
    this.coordinator = coordinator;
    this.context = context;
    this.timers = timers;
    this.pollDelay = settings.pollInterval();
    // Checking is load on the node under test: thousands of sessions back off further. The
    // latency does not depend on it (it is read from the session's apply time).
    this.maxPoll = Duration.ofMillis(Math.max(2_000, Math.min(10_000, settings.clients() * 2L)));
    // Fill the payload up to its configured size with a padding attribute; ~160 bytes are the rest.
    this.pad = "x".repeat(Math.max(0, settings.payloadBytes() - 160));
  }

  static Behavior<Command> create(int index, String runId, DeviceSessionId session, CanarySettings settings,
      CanaryMqtt mqtt, CanaryHttp http, ActorRef<Report> coordinator) {
    return Behaviors.setup(context -> Behaviors.withTimers(timers ->
        new CanaryDevice(index, runId, session, settings, mqtt, http, coordinator, context, timers).idle()));
  }

  private Behavior<Command> idle() {
    return Behaviors.receive(Command.class)
        .onMessage(Connect.class, c -> connect())
        .onSignal(PostStop.class, s -> closeClient())
        .build();
  }

  private Behavior<Command> connect() {
    CompletableFuture.supplyAsync(() -> DeviceSimulator.builder(settings.mqttUri(), rae, session)
        .protocol(settings.protocol())
        .clientId("canary-" + runId + "-" + index)
        .receiveCommands(false)
        .timeout(settings.mqttTimeout())
        .threads(mqtt.clientThreads())
        .connect(), mqtt.blockingCalls())
        .whenComplete((sim, error) -> context.getSelf().tell(
            error == null ? new Connected(sim) : new ConnectFailed(reason(error))));
    return Behaviors.receive(Command.class)
        .onMessage(Connected.class, c -> {
          simulator = c.simulator();
          coordinator.tell(new ReportConnected(index));
          return publishing();
        })
        .onMessage(ConnectFailed.class, f -> {
          coordinator.tell(new ReportConnectFailed(index, f.reason()));
          return Behaviors.stopped();
        })
        .onSignal(PostStop.class, s -> closeClient())
        .build();
  }

  private Behavior<Command> publishing() {
    context.getSelf().tell(new PublishNext());
    return Behaviors.receive(Command.class)
        .onMessage(PublishNext.class, n -> {
          publish(nextIndex);
          return Behaviors.same();
        })
        .onMessage(Acked.class, a -> {
          coordinator.tell(new ReportAcked(index));
          lastSentAtMillis = a.sentAtMillis();
          nextIndex = a.index() + 1;
          if (nextIndex >= settings.messagesPerSession()) {
            closeClient();
            return verifying();
          }
          if (settings.publishInterval().isZero()) {
            context.getSelf().tell(new PublishNext());
          } else {
            timers.startSingleTimer(new PublishNext(), settings.publishInterval());
          }
          return Behaviors.same();
        })
        .onMessage(PublishFailed.class, f -> {
          coordinator.tell(new ReportPublishFailed(index, f.reason()));
          // What was acknowledged is still checked: the verdict says how far the session got.
          closeClient();
          if (f.index() == 0) {
            coordinator.tell(new ReportUnverified(index, "no message was acknowledged by the broker", 0));
            return Behaviors.stopped();
          }
          return verifying();
        })
        .onSignal(PostStop.class, s -> closeClient())
        .build();
  }

  private void publish(int i) {
    DeviceSimulator sim = simulator;
    Message message = message(i);
    // Asynchronous: thousands of devices each with a publish in flight must not need a thread each.
    sim.publishAsync(message.channel(), message.json())
        .whenComplete((ok, error) -> context.getSelf().tell(
            error == null ? new Acked(i, message.sentAtMillis()) : new PublishFailed(i, reason(error))));
  }

  private record Message(DeviceTopic.Channel channel, String json, long sentAtMillis) {}

  /** Message {@code i} of the pattern; its {@code seq} is {@code i}, so order is the device's. */
  private Message message(int i) {
    long now = System.currentTimeMillis();
    ObjectNode json = JSON.createObjectNode();
    json.put("ts", now);
    json.put("seq", i);
    int last = settings.messagesPerSession() - 1;
    if (settings.connectionEvents() && (i == 0 || i == last)) {
      json.put("connected", i == 0);
      return new Message(DeviceTopic.Channel.CONNECTION, json.toString(), now);
    }
    int dataIndex = settings.connectionEvents() ? i : i + 1; // 1-based among data messages
    ObjectNode attributes = json.putObject("attributes");
    attributes.put(CanaryTag.RUN_ATTRIBUTE, runId);
    attributes.put("canary.seq", i);
    attributes.put("canary.pad", pad);
    boolean checkpoint = settings.checkpointEvery() > 0 && dataIndex % settings.checkpointEvery() == 0;
    if (checkpoint) {
      json.put("state", "canary");
    }
    return new Message(checkpoint ? DeviceTopic.Channel.CHECKPOINT : DeviceTopic.Channel.UPDATE, json.toString(), now);
  }

  private Behavior<Command> verifying() {
    verifyDeadlineMillis = System.currentTimeMillis() + settings.verifyTimeout().toMillis();
    coordinator.tell(new ReportAwaitingCheck(index));
    timers.startSingleTimer(POLL_TIMER, new Poll(), settings.verifyTimeout());
    return Behaviors.receive(Command.class)
        .onMessage(CheckNow.class, c -> {
          if (!checking) {
            checking = true;
            timers.startSingleTimer(POLL_TIMER, new Poll(), Duration.ZERO);
          }
          return Behaviors.same();
        })
        .onMessage(Poll.class, p -> {
          checking = true;
          http.device(session.value()).whenComplete((read, error) -> context.getSelf().tell(
              new Observed(error == null ? read : new CanaryHttp.Failed(reason(error)))));
          return Behaviors.same();
        })
        .onMessage(Observed.class, o -> {
          Long latency = check(o.read());
          if (latency != null) {
            coordinator.tell(new ReportVerified(index, latency, lastVisible));
            return Behaviors.stopped();
          }
          if (System.currentTimeMillis() >= verifyDeadlineMillis) {
            coordinator.tell(new ReportUnverified(index, lastObservation, lastVisible));
            return Behaviors.stopped();
          }
          timers.startSingleTimer(POLL_TIMER, new Poll(), pollDelay);
          pollDelay = Duration.ofMillis(Math.min(maxPoll.toMillis(), (long) (pollDelay.toMillis() * 1.5)));
          return Behaviors.same();
        })
        .onSignal(PostStop.class, s -> closeClient())
        .build();
  }

  /**
   * The latency if the session shows everything acknowledged (all messages applied, the last
   * data message's attributes, the final connection state), else null with
   * {@link #lastObservation} saying what it showed instead.
   */
  private Long check(CanaryHttp.DeviceRead read) {
    if (read instanceof CanaryHttp.NotFound) {
      lastObservation = "session not found over HTTP";
      return null;
    }
    if (read instanceof CanaryHttp.Failed failed) {
      lastObservation = failed.reason();
      return null;
    }
    JsonNode device = ((CanaryHttp.Found) read).device();
    long applied = device.path("appliedMessages").asLong();
    lastVisible = applied;
    long expected = nextIndex;
    if (applied < expected) {
      lastObservation = "session shows " + (applied == 0 ? "no" : "only some") + " of the acknowledged messages";
      return null;
    }
    int lastData = lastDataIndex();
    if (lastData >= 0 && device.path("attributes").path("canary.seq").asLong(-1) != lastData) {
      lastObservation = "session shows other attributes than last published";
      return null;
    }
    if (settings.connectionEvents() && nextIndex == settings.messagesPerSession()
        && !"DISCONNECTED".equals(device.path("connection").asText())) {
      lastObservation = "session shows connection " + device.path("connection").asText() + ", not DISCONNECTED";
      return null;
    }
    if (!rae.value().equals(device.path("raeSerial").asText())) {
      lastObservation = "session shows another RAE serial";
      return null;
    }
    Instant appliedAt = Instant.parse(device.path("lastUpdateAt").asText(Instant.EPOCH.toString()));
    return Math.max(0, appliedAt.toEpochMilli() - lastSentAtMillis);
  }

  /** Index of the last acknowledged message that carried attributes, or -1. */
  private int lastDataIndex() {
    for (int i = nextIndex - 1; i >= 0; i--) {
      boolean connection = settings.connectionEvents() && (i == 0 || i == settings.messagesPerSession() - 1);
      if (!connection) {
        return i;
      }
    }
    return -1;
  }

  private Behavior<Command> closeClient() {
    DeviceSimulator sim = simulator;
    simulator = null;
    if (sim != null) {
      try {
        mqtt.blockingCalls().execute(sim::close);
      } catch (java.util.concurrent.RejectedExecutionException e) {
        sim.close();
      }
    }
    return Behaviors.same();
  }

  /** A short, low-cardinality reason: the client id and session never go in it. */
  static String reason(Throwable error) {
    Throwable t = error instanceof java.util.concurrent.CompletionException && error.getCause() != null
        ? error.getCause() : error;
    if (t instanceof DeviceMqttException mqttError) {
      Throwable cause = mqttError.getCause();
      String detail = cause != null && cause.getMessage() != null ? cause.getMessage() : "refused";
      return "MQTT " + mqttError.reasonCode() + ": " + detail;
    }
    return t.getClass().getSimpleName() + (t.getMessage() == null ? "" : ": " + t.getMessage());
  }
}
