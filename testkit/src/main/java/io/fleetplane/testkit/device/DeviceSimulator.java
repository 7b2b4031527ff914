package io.fleetplane.testkit.device;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.fleetplane.config.ids.DeviceSessionId;
import io.fleetplane.config.ids.DeviceTopic;
import io.fleetplane.config.ids.RaeSerial;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A simulated device: one real MQTT client (Paho v5 by default, or v3 for MQTT 3.1.1) connected
 * as one device session of one RAE, that answers commands as its {@link CommandBehaviour} says
 * and publishes updates like a real device (docs/protocol.md, section 8 for
 * commands).
 *
 * <p>It speaks the device side of the protocol on its own, independently of the bridge's code, so
 * a test with it checks the documented wire format rather than the bridge agreeing with itself.
 * It is meant for tests and for the canary: thread-safe, no test-framework dependency, and
 * several simulators can share one scheduler ({@link Builder#scheduler}).
 *
 * <pre>{@code
 * try (DeviceSimulator device = DeviceSimulator.builder(broker.serverUri(), rae, session)
 *     .credentials("RAE-1", password)
 *     .behaviour(CommandBehaviour.succeed(Map.of("rebooted", true)))
 *     .connect()) {
 *   device.publishUpdate("{\"ts\":1,\"attributes\":{\"esn\":\"X\"}}");
 *   ReceivedCommand command = device.awaitCommand(c -> c.name().equals("reboot"), Duration.ofSeconds(10));
 * }
 * }</pre>
 */
public final class DeviceSimulator implements AutoCloseable {

  private static final Logger log = LoggerFactory.getLogger(DeviceSimulator.class);
  private static final ObjectMapper JSON = new ObjectMapper();

  private final RaeSerial raeSerial;
  private final DeviceSessionId deviceSessionId;
  private final MqttProtocol protocol;
  private final boolean commandIdInReplyPayload;
  private final ScheduledExecutorService scheduler;
  private final boolean ownsScheduler;
  private final DeviceConnection connection;
  private volatile CommandBehaviour behaviour;

  private final Object lock = new Object();
  private final List<ReceivedCommand> commands = new ArrayList<>(); // guarded by lock
  private final List<SentReply> replies = new ArrayList<>(); // guarded by lock
  private final List<String> problems = new ArrayList<>(); // guarded by lock

  private DeviceSimulator(Builder b) {
    this.raeSerial = b.raeSerial;
    this.deviceSessionId = b.deviceSessionId;
    this.protocol = b.protocol;
    // An MQTT 3.1.1 device has no other way to correlate.
    this.commandIdInReplyPayload = b.protocol == MqttProtocol.MQTT_3_1_1 || b.commandIdInReplyPayload;
    this.behaviour = b.behaviour;
    ScheduledExecutorService shared = b.threads != null ? b.threads.executor() : b.scheduler;
    this.ownsScheduler = shared == null;
    this.scheduler = shared != null ? shared : Executors.newSingleThreadScheduledExecutor(
        runnable -> {
          Thread t = new Thread(runnable, "device-simulator-" + b.deviceSessionId);
          t.setDaemon(true);
          return t;
        });
    this.connection = DeviceConnection.create(b.protocol, new DeviceConnection.Options(
        b.serverUri,
        b.clientId != null ? b.clientId : "device-" + b.deviceSessionId,
        b.username, b.password, b.cleanStart, b.timeout, this::onMessage,
        b.threads == null ? null : b.threads.executor()));
  }

  /** A simulator for this session; nothing connects until {@link Builder#connect()}. */
  public static Builder builder(String serverUri, RaeSerial raeSerial, DeviceSessionId session) {
    return new Builder(serverUri, raeSerial, session);
  }

  public RaeSerial raeSerial() {
    return raeSerial;
  }

  public DeviceSessionId deviceSessionId() {
    return deviceSessionId;
  }

  public MqttProtocol protocol() {
    return protocol;
  }

  /** {@code fleet/rae/{raeSerial}/device/{deviceSessionId}}: the Kafka key of this session. */
  public String sessionKey() {
    return DeviceTopic.sessionKey(raeSerial, deviceSessionId);
  }

  /** The topic this device receives commands on (subscribed at connect). */
  public String commandTopic() {
    return sessionKey() + "/command";
  }

  /** Replaces how the device answers the commands that arrive from now on. */
  public void behaviour(CommandBehaviour behaviour) {
    this.behaviour = Objects.requireNonNull(behaviour, "behaviour");
  }

  /** Publishes a JSON update on {@code .../update} at QoS 1 and waits for the broker's ack. */
  public void publishUpdate(String json) {
    publish(DeviceTopic.Channel.UPDATE, json);
  }

  /** Publishes JSON on one of the device->cloud channels at QoS 1. */
  public void publish(DeviceTopic.Channel channel, String json) {
    connection.publish(sessionKey() + "/" + channel.topicLevel(),
        json.getBytes(StandardCharsets.UTF_8), 1, null);
  }

  /** As {@link #publish(DeviceTopic.Channel, String)}, completing when the broker acknowledged it. */
  public java.util.concurrent.CompletionStage<Void> publishAsync(DeviceTopic.Channel channel, String json) {
    return connection.publishAsync(sessionKey() + "/" + channel.topicLevel(),
        json.getBytes(StandardCharsets.UTF_8), 1, null);
  }

  /**
   * Publishes anything anywhere at QoS 1, as this device's MQTT user: for tests of what the
   * broker lets a misbehaving device do.
   *
   * @param correlationData MQTT 5 correlation data, or null
   * @throws DeviceMqttException when an MQTT 5 broker refuses the publish
   */
  public void publishRaw(String topic, String payload, byte[] correlationData) {
    connection.publish(topic, payload.getBytes(StandardCharsets.UTF_8), 1, correlationData);
  }

  /** Commands received so far, in arrival order. */
  public List<ReceivedCommand> receivedCommands() {
    synchronized (lock) {
      return List.copyOf(commands);
    }
  }

  /** Replies published so far (acknowledged by the broker), in order. */
  public List<SentReply> sentReplies() {
    synchronized (lock) {
      return List.copyOf(replies);
    }
  }

  /** Commands it could not read or answer, and replies it could not send, described. */
  public List<String> problems() {
    synchronized (lock) {
      return List.copyOf(problems);
    }
  }

  /** Waits for a command matching {@code which}; fails with what did arrive after {@code timeout}. */
  public ReceivedCommand awaitCommand(Predicate<ReceivedCommand> which, Duration timeout) {
    return await(() -> commands.stream().filter(which).findFirst(), timeout,
        () -> "no matching command reached device " + deviceSessionId + " within " + timeout
            + "; received: " + commands.stream().map(ReceivedCommand::commandId).toList());
  }

  /** Waits until the reply to {@code commandId} was published. */
  public SentReply awaitReply(String commandId, Duration timeout) {
    return await(() -> replies.stream().filter(r -> r.commandId().equals(commandId)).findFirst(),
        timeout, () -> "device " + deviceSessionId + " did not reply to " + commandId + " within "
            + timeout + "; problems: " + problems);
  }

  public boolean isConnected() {
    return connection.isConnected();
  }

  /** Disconnects (clean DISCONNECT) and stops the scheduler if the simulator created it. */
  @Override
  public void close() {
    connection.close();
    if (ownsScheduler) {
      scheduler.shutdownNow();
    }
  }

  // ---------------------------------------------------------------------------------------------

  private void connect(boolean receiveCommands) {
    connection.connect();
    if (receiveCommands) {
      connection.subscribe(commandTopic(), 1);
    }
    log.debug("Device {} of RAE {} connected over {}{}", deviceSessionId, raeSerial, protocol,
        receiveCommands ? " and subscribed to '" + commandTopic() + "'" : "");
  }

  /** On Paho's callback thread: record, then answer on the simulator's own thread. */
  private void onMessage(DeviceConnection.Incoming in) {
    ReceivedCommand command;
    try {
      command = read(in);
    } catch (IllegalArgumentException e) {
      problem("unreadable command on '" + in.topic() + "': " + e.getMessage());
      return;
    }
    // The behaviour in effect when the command arrived answers it, even if replaced meanwhile.
    CommandBehaviour answering = behaviour;
    synchronized (lock) {
      commands.add(command);
      lock.notifyAll();
    }
    try {
      scheduler.execute(() -> respond(command, answering));
    } catch (RejectedExecutionException e) {
      // Closing: a real device that goes away does not answer either.
    }
  }

  private ReceivedCommand read(DeviceConnection.Incoming in) {
    String payload = new String(in.payload(), StandardCharsets.UTF_8);
    JsonNode json;
    try {
      json = JSON.readTree(payload);
    } catch (IOException e) {
      throw new IllegalArgumentException("not JSON: " + e.getMessage());
    }
    if (json == null || !json.isObject()) {
      throw new IllegalArgumentException("not a JSON object");
    }
    String commandId = in.correlationData() != null
        ? new String(in.correlationData(), StandardCharsets.UTF_8) : text(json, "commandId");
    String replyTo = in.responseTopic() != null ? in.responseTopic() : text(json, "replyTo");
    if (commandId == null) {
      throw new IllegalArgumentException("no correlation data and no 'commandId'");
    }
    JsonNode params = json.get("params");
    return new ReceivedCommand(in.topic(), commandId, text(json, "name"),
        params == null || params.isNull() ? JSON.createObjectNode() : params, replyTo,
        in.correlationData(), json.path("deadline").asLong(0), payload, System.currentTimeMillis());
  }

  private void respond(ReceivedCommand command, CommandBehaviour answering) {
    CommandResponse response;
    try {
      response = answering.respond(command);
    } catch (RuntimeException e) {
      problem("behaviour failed for " + command.commandId() + ": " + e);
      return;
    }
    if (response instanceof CommandResponse.Reply reply) {
      if (reply.delay().isZero()) {
        sendReply(command, reply);
      } else {
        scheduler.schedule(() -> sendReply(command, reply), reply.delay().toMillis(),
            TimeUnit.MILLISECONDS);
      }
    }
  }

  private void sendReply(ReceivedCommand command, CommandResponse.Reply reply) {
    if (command.replyTo() == null) {
      problem("command " + command.commandId() + " has no reply topic (no response topic, no "
          + "'replyTo'): cannot answer");
      return;
    }
    ObjectNode json = JSON.createObjectNode();
    json.put("type", "command-reply");
    json.put("version", 1);
    if (commandIdInReplyPayload) {
      json.put("commandId", command.commandId());
    }
    json.put("status", reply.status());
    if (reply.result() != null) {
      json.set("result", JSON.valueToTree(reply.result()));
    }
    if (reply.errorCode() != null) {
      ObjectNode error = json.putObject("error");
      error.put("code", reply.errorCode());
      error.put("message", reply.errorMessage() == null ? "" : reply.errorMessage());
    }
    json.put("ts", System.currentTimeMillis());
    String payload = json.toString();
    try {
      connection.publish(command.replyTo(), payload.getBytes(StandardCharsets.UTF_8), 1,
          command.correlationData());
    } catch (DeviceMqttException e) {
      problem("reply to " + command.commandId() + " failed: " + e.getMessage());
      return;
    }
    synchronized (lock) {
      replies.add(new SentReply(command.commandId(), command.replyTo(), reply.status(), payload,
          System.currentTimeMillis()));
      lock.notifyAll();
    }
  }

  private void problem(String description) {
    log.warn("Device {} of RAE {}: {}", deviceSessionId, raeSerial, description);
    synchronized (lock) {
      problems.add(description);
      lock.notifyAll();
    }
  }

  private <T> T await(java.util.function.Supplier<Optional<T>> find, Duration timeout,
      java.util.function.Supplier<String> failure) {
    long deadline = System.nanoTime() + timeout.toNanos();
    synchronized (lock) {
      while (true) {
        Optional<T> found = find.get();
        if (found.isPresent()) {
          return found.get();
        }
        long left = deadline - System.nanoTime();
        if (left <= 0) {
          throw new AssertionError(failure.get());
        }
        try {
          TimeUnit.NANOSECONDS.timedWait(lock, left);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new IllegalStateException("interrupted while waiting: " + failure.get(), e);
        }
      }
    }
  }

  private static String text(JsonNode json, String field) {
    JsonNode v = json.get(field);
    return v == null || !v.isTextual() ? null : v.asText();
  }

  /** Options for one simulated device. */
  public static final class Builder {
    private final String serverUri;
    private final RaeSerial raeSerial;
    private final DeviceSessionId deviceSessionId;
    private MqttProtocol protocol = MqttProtocol.MQTT_5;
    private CommandBehaviour behaviour = CommandBehaviour.succeed(null);
    private String clientId;
    private String username;
    private String password;
    private boolean cleanStart = true;
    private boolean receiveCommands = true;
    private boolean commandIdInReplyPayload;
    private Duration timeout = Duration.ofSeconds(10);
    private ScheduledExecutorService scheduler;
    private MqttClientThreads threads;

    private Builder(String serverUri, RaeSerial raeSerial, DeviceSessionId deviceSessionId) {
      this.serverUri = Objects.requireNonNull(serverUri, "serverUri");
      this.raeSerial = Objects.requireNonNull(raeSerial, "raeSerial");
      this.deviceSessionId = Objects.requireNonNull(deviceSessionId, "deviceSessionId");
    }

    /** MQTT 5 (default) or MQTT 3.1.1. */
    public Builder protocol(MqttProtocol protocol) {
      this.protocol = Objects.requireNonNull(protocol, "protocol");
      return this;
    }

    /** How commands are answered; default: {@code succeeded} without a result. */
    public Builder behaviour(CommandBehaviour behaviour) {
      this.behaviour = Objects.requireNonNull(behaviour, "behaviour");
      return this;
    }

    /** The device's MQTT user (with the shipped ACL: its RAE serial) and password. */
    public Builder credentials(String username, String password) {
      this.username = username;
      this.password = password;
      return this;
    }

    /** MQTT client id; default {@code device-<deviceSessionId>}. */
    public Builder clientId(String clientId) {
      this.clientId = clientId;
      return this;
    }

    /** False keeps a persistent session (commands queue while disconnected). Default true. */
    public Builder cleanStart(boolean cleanStart) {
      this.cleanStart = cleanStart;
      return this;
    }

    /**
     * False: do not subscribe to the command topic (a device that only publishes, as in the
     * canary, where 3,000 subscriptions made and dropped were a tenth of the broker's CPU).
     * Default true.
     */
    public Builder receiveCommands(boolean receive) {
      this.receiveCommands = receive;
      return this;
    }

    /**
     * MQTT 5 only: also put {@code commandId} into reply payloads (MQTT 3.1.1 devices always
     * do). Off by default, so MQTT 5 tests prove correlation by the property alone.
     */
    public Builder commandIdInReplyPayload(boolean include) {
      this.commandIdInReplyPayload = include;
      return this;
    }

    /** Bound of every connect, subscribe and publish; default 10 s. */
    public Builder timeout(Duration timeout) {
      this.timeout = Objects.requireNonNull(timeout, "timeout");
      return this;
    }

    /**
     * Runs behaviours and delayed replies on this scheduler instead of a thread of its own (many
     * simulators in one JVM, as in the canary). The caller shuts it down.
     */
    public Builder scheduler(ScheduledExecutorService scheduler) {
      this.scheduler = scheduler;
      return this;
    }

    /**
     * Runs the MQTT client's threads and the behaviours on these shared threads: thousands of
     * short-lived devices in one JVM then do not create five threads each. The caller closes them.
     */
    public Builder threads(MqttClientThreads threads) {
      this.threads = threads;
      return this;
    }

    /**
     * Connects and (unless told not to) subscribes to the command topic; returns once the broker
     * acknowledged both.
     *
     * @throws DeviceMqttException when the broker refuses the connection or cannot be reached
     */
    public DeviceSimulator connect() {
      DeviceSimulator simulator = new DeviceSimulator(this);
      try {
        simulator.connect(receiveCommands);
      } catch (RuntimeException e) {
        simulator.close();
        throw e;
      }
      return simulator;
    }
  }
}
