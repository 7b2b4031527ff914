package io.fleetplane.jobs.distribution.domain;

import io.fleetplane.config.CborSerializable;

/**
 * Where a recipient's push notifications go besides the {@code fleet.notifications} topic.
 *
 * @param address opaque handle for whatever consumes {@code fleet.notifications} (a mobile push
 *     gateway's user or device token); copied into every record for this recipient, never interpreted
 * @param raeSerial with {@code deviceSessionId}: the RAE the session belongs to (the MQTT topic names both)
 * @param deviceSessionId a device session that also receives the notification over MQTT (its
 *     {@code .../command} topic, see docs/protocol.md section 9); null when none
 */
public record PushTarget(String address, String raeSerial, String deviceSessionId) implements CborSerializable {

  public boolean hasDeviceSession() {
    return deviceSessionId != null;
  }
}
