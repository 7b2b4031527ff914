package io.fleetplane.http;

import akka.actor.typed.ActorSystem;
import akka.http.javadsl.model.ContentTypes;
import akka.http.javadsl.model.HttpEntities;
import akka.http.javadsl.model.HttpResponse;
import akka.http.javadsl.server.AllDirectives;
import akka.http.javadsl.server.Route;
import io.fleetplane.http.auth.AuthSettings;
import io.fleetplane.http.auth.Authorization;
import io.fleetplane.http.auth.Scope;
import akka.http.javadsl.server.PathMatchers;
import java.util.regex.Pattern;
import io.fleetplane.registry.RegistrySettings;
import io.fleetplane.registry.readside.DeviceQueries;

/** Assembles every route of the node under one error handling. */
final class ApiRoutes extends AllDirectives {

  /** The hand-written OpenAPI 3 document; OpenApiContractIT keeps it true to the routes. */
  static final String OPENAPI_RESOURCE = "fleetplane-openapi.json";

  private final DeviceRoutes devices;
  private final HealthRoutes health;
  private final DistributionRoutes distributions;
  private final Authorization auth;
  private final WorkflowRoutes workflows;
  private final ScheduleRoutes schedules;
  private final SignalRoutes signals;
  private final DevicePredicateRoutes predicates;

  private final Route canary;
  private final CommandRoutes commands;

  ApiRoutes(ActorSystem<?> system, NodeSettings settings, HealthRoutes health, DeviceQueries deviceQueries,
      Route canary, io.fleetplane.http.commands.DeviceCommands deviceCommands, DevicePredicates devicePredicates) {
    // Every /api/v1 route is wrapped in this directive; /health and /metrics stay open.
    Authorization auth = Authorization.fromSettings(AuthSettings.fromConfig(system.settings().config()));
    this.devices = new DeviceRoutes(system, settings.askTimeout(),
        RegistrySettings.fromConfig(system.settings().config()).unknownAfter(), deviceQueries, auth);
    this.auth = auth;
    this.health = health;
    this.distributions = new DistributionRoutes(system, io.fleetplane.jobs.distribution.Distributions.get(system));
    this.workflows = new WorkflowRoutes(io.fleetplane.jobs.workflow.WorkflowEngine.get(system));
    this.schedules = new ScheduleRoutes(io.fleetplane.jobs.workflow.WorkflowEngine.get(system),
        io.fleetplane.jobs.workflow.schedule.WorkflowSchedules.get(system),
        io.fleetplane.jobs.workflow.signal.WorkflowSignals.get(system), JsonBody.fromConfig(system.settings().config()));
    this.signals = new SignalRoutes(io.fleetplane.jobs.workflow.signal.WorkflowSignals.get(system),
        JsonBody.fromConfig(system.settings().config()));
    this.predicates = new DevicePredicateRoutes(devicePredicates, JsonBody.fromConfig(system.settings().config()));
    this.canary = canary;
    this.commands = new CommandRoutes(system, settings.askTimeout(), deviceCommands, auth);
  }

  Route routes() {
    // Sub-trees are built once and captured: a directive's supplier runs per request, and a tree
    // built inside one is rebuilt for every request it serves (see ErrorHandling.wrap).
    Route distributionApi = distributions.apiRoutes();
    Route workflowApi = concat(schedules.routes(), signals.subscriptionRoutes(), workflows.routes());
    // Predicates first: "/signals/predicates" would otherwise read as the signal id "predicates".
    Route signalApi = concat(predicates.routes(), signals.signalRoutes());
    Route v1 = concat(
        // Open on purpose: the contract is no secret, and clients need it before they have a token.
        path("openapi.json", () -> get(() -> getFromResource(OPENAPI_RESOURCE, ContentTypes.APPLICATION_JSON))),
        devices.routes(),
        commands.routes(),
        pathPrefixTest(PathMatchers.segment(Pattern.compile("documents|distributions")), group ->
            auth.authorizeByMethod(Scope.JOBS_READ, Scope.JOBS_WRITE, () -> distributionApi)),
        pathPrefixTest("workflows", () ->
            auth.authorizeByMethod(Scope.WORKFLOWS_READ, Scope.WORKFLOWS_WRITE, () -> workflowApi)),
        // Signals start workflows: the workflow scopes govern them.
        pathPrefixTest("signals", () ->
            auth.authorizeByMethod(Scope.WORKFLOWS_READ, Scope.WORKFLOWS_WRITE, () -> signalApi)),
        // Canary results describe the fleet's pipeline, not any RAE's devices: readable with
        // devices:read, anything else is admin.
        pathPrefixTest("canary", () -> auth.authorizeByMethod(Scope.DEVICES_READ, Scope.ADMIN, () -> canary)));
    return new ErrorHandling().wrap(() -> concat(
        pathPrefix("api", () -> pathPrefix("v1", () -> v1)),
        // Links are capabilities handed to recipients: the token in the path is the authorization.
        distributions.linkRoutes(),
        health.routes(),
        path("metrics", () -> get(() -> complete(HttpResponse.create().withEntity(
            HttpEntities.create(ContentTypes.TEXT_PLAIN_UTF8, Observability.prometheusText())))))));
  }
}
