package io.fleetplane.bridge.command.domain;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * The commands published to devices and not yet settled, with their deadlines, in bounded memory.
 * It is the one place that decides, per command id, which of "the device replied", "the deadline
 * passed" and "the bridge stopped" happened first: whichever removes the entry wins, so every
 * admitted command is settled exactly once.
 *
 * <p><b>Bounds.</b> At most {@code maxOutstanding} commands are pending or settling (settled, but
 * the reply record not yet acknowledged by Kafka) at once; beyond that {@link #admit} answers
 * {@link Full} and the caller rejects the command instead of growing. The outcomes of the last
 * {@code rememberedOutcomes} settled commands are kept, so that a late reply is told apart from an
 * unknown one, and a command redelivered by Kafka (after a stream restart) is not sent twice.
 *
 * <p>Thread-safe: one lock, held only for map operations (Paho's callback thread, the stream and
 * the timeout sweep all call in). Pure otherwise: callers pass the time in.
 */
public final class PendingCommands {

  /** How a command was settled. */
  public enum Outcome { ANSWERED, TIMED_OUT, REJECTED }

  /**
   * One command in flight to its device.
   *
   * @param deadline epoch milliseconds; the sweep settles it as timed out from then on
   * @param admittedAt epoch milliseconds, for the round-trip time
   */
  public record Pending(DeviceCommand command, long deadline, long admittedAt, long sequence) {
    public CommandId commandId() {
      return command.commandId();
    }
  }

  /** What {@link #admit} decided. */
  public sealed interface Admission {}

  /** Publish it; it is now pending. */
  public record Admitted(Pending pending) implements Admission {}

  /** The id is pending or was settled recently: do not publish it again (Kafka redelivery). */
  public record Duplicate(boolean stillPending, Outcome outcome) implements Admission {}

  /** Over the bound: reject the command. */
  public record Full(int outstanding) implements Admission {}

  /** What a device reply matched. */
  public sealed interface Match {}

  /** The reply settles this pending command; call {@link #released()} once its record is produced. */
  public record Matched(Pending pending) implements Match {}

  /** The command timed out (or the bridge gave up on it) before this reply came. */
  public record Late(Outcome outcome) implements Match {}

  /** The command was already answered (the device sent twice, or the broker redelivered). */
  public record AlreadyAnswered() implements Match {}

  /**
   * The id is pending for another session than the reply's topic: a device answering for a
   * command that is not its own. The command stays pending.
   */
  public record WrongSession(Pending pending) implements Match {}

  /** Never seen here (another bridge instance's, one from before a restart, or made up). */
  public record Unknown() implements Match {}

  private final int maxOutstanding;
  private final Map<CommandId, Pending> byId = new HashMap<>();
  private final TreeSet<Pending> byDeadline = new TreeSet<>(
      Comparator.comparingLong(Pending::deadline).thenComparingLong(Pending::sequence));
  private final LinkedHashMap<CommandId, Outcome> settled;
  private long nextSequence;
  private int settling;

  public PendingCommands(int maxOutstanding, int rememberedOutcomes) {
    if (maxOutstanding < 1 || rememberedOutcomes < 0) {
      throw new IllegalArgumentException("maxOutstanding must be >= 1 and rememberedOutcomes >= 0,"
          + " were " + maxOutstanding + " and " + rememberedOutcomes);
    }
    this.maxOutstanding = maxOutstanding;
    this.settled = new LinkedHashMap<>(16, 0.75f, false) {
      @Override
      protected boolean removeEldestEntry(Map.Entry<CommandId, Outcome> eldest) {
        return size() > rememberedOutcomes;
      }
    };
  }

  public synchronized Admission admit(DeviceCommand command, long deadline, long now) {
    CommandId id = command.commandId();
    if (byId.containsKey(id)) {
      return new Duplicate(true, null);
    }
    Outcome outcome = settled.get(id);
    if (outcome != null) {
      return new Duplicate(false, outcome);
    }
    int outstanding = byId.size() + settling;
    if (outstanding >= maxOutstanding) {
      return new Full(outstanding);
    }
    Pending pending = new Pending(command, deadline, now, nextSequence++);
    byId.put(id, pending);
    byDeadline.add(pending);
    return new Admitted(pending);
  }

  /**
   * Forgets an admitted command whose publish failed, without remembering an outcome: Kafka
   * redelivers it after the stream restarts, and it must then be admitted again.
   */
  public synchronized void abandon(Pending pending) {
    if (byId.remove(pending.commandId(), pending)) {
      byDeadline.remove(pending);
    }
  }

  /**
   * Settles a command the bridge answered itself without it ever being pending (rejected, or
   * expired before delivery), so that a redelivery of the same record is recognised.
   */
  public synchronized void recordSettled(CommandId id, Outcome outcome) {
    if (!byId.containsKey(id)) {
      settled.put(id, outcome);
    }
  }

  /** Matches a device reply that arrived on the reply topic of {@code session}. */
  public synchronized Match matchReply(CommandId id, CommandTopics.Session session) {
    Pending pending = byId.get(id);
    if (pending != null) {
      DeviceCommand c = pending.command();
      if (!c.raeSerial().equals(session.raeSerial())
          || !c.deviceSessionId().equals(session.deviceSessionId())) {
        return new WrongSession(pending);
      }
      settle(pending, Outcome.ANSWERED);
      return new Matched(pending);
    }
    Outcome outcome = settled.get(id);
    if (outcome == null) {
      return new Unknown();
    }
    return outcome == Outcome.ANSWERED ? new AlreadyAnswered() : new Late(outcome);
  }

  /** Settles as timed out every command whose deadline is at or before {@code now}. */
  public synchronized List<Pending> expire(long now) {
    List<Pending> expired = new ArrayList<>();
    while (!byDeadline.isEmpty() && byDeadline.first().deadline() <= now) {
      Pending pending = byDeadline.first();
      settle(pending, Outcome.TIMED_OUT);
      expired.add(pending);
    }
    return expired;
  }

  /** Settles as timed out everything still pending (the bridge is stopping). */
  public synchronized List<Pending> drainAll() {
    List<Pending> all = new ArrayList<>(byDeadline);
    all.forEach(p -> settle(p, Outcome.TIMED_OUT));
    return all;
  }

  /** A settled command's reply record was produced: its slot is free again. */
  public synchronized void released() {
    if (settling > 0) {
      settling--;
    }
  }

  /** Commands published and waiting for their device. */
  public synchronized int pending() {
    return byId.size();
  }

  /** Pending plus settled-but-not-yet-produced: what {@code maxOutstanding} bounds. */
  public synchronized int outstanding() {
    return byId.size() + settling;
  }

  /** The earliest deadline of a pending command, or {@code Long.MAX_VALUE} when none. */
  public synchronized long nextDeadline() {
    return byDeadline.isEmpty() ? Long.MAX_VALUE : byDeadline.first().deadline();
  }

  private void settle(Pending pending, Outcome outcome) {
    byId.remove(pending.commandId());
    byDeadline.remove(pending);
    settled.put(pending.commandId(), outcome);
    settling++;
  }
}
