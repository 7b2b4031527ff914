package io.fleetplane.testkit.canary;

import io.fleetplane.testkit.device.MqttClientThreads;
import java.util.concurrent.Executor;

/**
 * The threads a canary run's devices use for MQTT.
 *
 * @param blockingCalls runs connects (Paho tokens block), so device actors never block a
 *     dispatcher thread; its size bounds how many clients connect at the same instant
 * @param clientThreads the Paho clients' own loops and pings, shared by all devices
 */
record CanaryMqtt(Executor blockingCalls, MqttClientThreads clientThreads) {}
