package io.fleetplane.http;

import akka.actor.typed.ActorSystem;
import akka.http.javadsl.model.ContentTypes;
import akka.http.javadsl.model.HttpEntities;
import akka.http.javadsl.model.HttpResponse;
import akka.http.javadsl.server.AllDirectives;
import akka.http.javadsl.server.Route;
import io.fleetplane.registry.RegistrySettings;
import io.fleetplane.registry.readside.DeviceQueries;

/** Assembles every route of the node under one error handling. */
final class ApiRoutes extends AllDirectives {

  private final DeviceRoutes devices;
  private final HealthRoutes health;
  private final Route canary;

  ApiRoutes(ActorSystem<?> system, NodeSettings settings, HealthRoutes health, DeviceQueries deviceQueries,
      Route canary) {
    this.devices = new DeviceRoutes(system, settings.askTimeout(),
        RegistrySettings.fromConfig(system.settings().config()).unknownAfter(), deviceQueries);
    this.health = health;
    this.canary = canary;
  }

  Route routes() {
    return new ErrorHandling().wrap(() -> concat(
        pathPrefix("api", () -> pathPrefix("v1", () -> concat(devices.routes(), canary))),
        health.routes(),
        path("metrics", () -> get(() -> complete(HttpResponse.create().withEntity(
            HttpEntities.create(ContentTypes.TEXT_PLAIN_UTF8, Observability.prometheusText())))))));
  }
}
