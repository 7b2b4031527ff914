package io.fleetplane.jobs.workflow.domain;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.fleetplane.jobs.workflow.domain.WorkflowDefinition.FailureKind;
import io.fleetplane.jobs.workflow.domain.WorkflowDefinition.ForeachSpec;
import io.fleetplane.jobs.workflow.domain.WorkflowDefinition.RetryPolicy;
import io.fleetplane.jobs.workflow.domain.WorkflowDefinition.StepDefinition;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads a workflow definition from YAML or JSON into {@link WorkflowDefinition} and validates it.
 * Every error names the step and the line of the submitted text; all errors found are reported
 * together, so a user fixes a definition in one round trip rather than one error at a time.
 *
 * <p>Format (JSON has the same shape):
 * <pre>
 * id: backfill                 # required; letters, digits, . _ -
 * description: ...
 * owner: ...                   # may also come from the request that stores it
 * params: { start: "2024-01-01T00:00:00Z" }   # defaults
 * timeout: 2h                  # optional: the whole instance
 * runStrategy: parallel        # parallel | sequential | first-only | last-only
 * maxRunningInstances: 3       # parallel only: at most this many at once
 * steps:
 *   - id: step1                # required, unique among its siblings
 *     type: noop               # noop | wait | http | foreach | subworkflow | signal | distribution
 *     dependsOn: [other]       # upstream steps
 *     if: "params.enabled"     # CEL condition; false -> skipped
 *     params: { x: "${params.start}" }   # "${...}" is CEL, the rest literal
 *     retry: { maxAttempts: 3, backoff: 1s, maxBackoff: 1m, on: [platform, user] }
 *     timeout: 30s
 *     foreach: { items: "steps.step1.dates", as: date, concurrency: 10, steps: [...] }
 *     gate: { signal: table-landed, condition: "signal.params.table == params.table", lookback: 1h }
 * </pre>
 *
 * <p>A gate's condition sees what every step expression sees plus {@code signal} (signalId, name,
 * source, time, params); the gated step waits, RUNNING, until such a signal exists.
 */
public final class DefinitionParser {

  public static final int DEFAULT_MAX_STEPS = 1000;
  private static final Pattern WORKFLOW_ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,127}");
  private static final Pattern STEP_ID = Pattern.compile("[A-Za-z_][A-Za-z0-9_-]{0,63}");
  private static final Pattern IDENTIFIER = Pattern.compile("[A-Za-z_][A-Za-z0-9_]{0,63}");
  private static final Pattern DURATION = Pattern.compile("(\\d+)\\s*(ms|s|m|h|d)");
  private static final Set<String> TOP_FIELDS = Set.of("id", "description", "owner", "params", "steps", "timeout",
      "maxRunningInstances", "runStrategy");
  private static final Set<String> STEP_FIELDS =
      Set.of("id", "type", "dependsOn", "if", "params", "retry", "timeout", "foreach", "gate");
  /** Signal names, as WorkflowSignals accepts them. */
  private static final Pattern SIGNAL_NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._:-]{0,127}");
  /** The variable a gate condition reads the candidate signal from. */
  public static final String GATE_SIGNAL_VAR = "signal";
  /** Bounds the history a gate looks up (one indexed range scan per check). */
  public static final Duration MAX_GATE_LOOKBACK = Duration.ofDays(31);
  /** Options of a distribution (the HTTP body's option fields). */
  public static final Set<String> DISTRIBUTION_OPTIONS =
      Set.of("watermarkTemplate", "passwordProtect", "linkTtlSeconds", "emailNotification");
  private static final Set<String> DISTRIBUTION_PARAMS;

  static {
    Set<String> p = new HashSet<>(DISTRIBUTION_OPTIONS);
    p.addAll(Set.of("files", "documentIds", "recipients", "options"));
    DISTRIBUTION_PARAMS = Set.copyOf(p);
  }

  private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
  private static final ObjectMapper JSON = new ObjectMapper();

  private final Expressions expressions;
  private final int maxSteps;
  private final int maxConcurrency;

  public DefinitionParser(Expressions expressions, int maxSteps, int maxConcurrency) {
    this.expressions = expressions;
    this.maxSteps = maxSteps;
    this.maxConcurrency = maxConcurrency;
  }

  /** JSON when the text starts with '{', YAML otherwise (YAML is a superset, but lines differ). */
  public WorkflowDefinition parse(String text) {
    return parse(text, text.stripLeading().startsWith("{"));
  }

  public WorkflowDefinition parse(String text, boolean json) {
    ObjectMapper mapper = json ? JSON : YAML;
    JsonNode root;
    Map<String, Integer> lines;
    try {
      root = mapper.readTree(text);
      lines = lines(mapper.getFactory(), text);
    } catch (JsonProcessingException e) {
      int line = e.getLocation() == null ? 0 : e.getLocation().getLineNr();
      throw new InvalidDefinitionException(List.of(new DefinitionError(DefinitionError.INVALID, null, line,
          "not valid " + (json ? "JSON" : "YAML") + ": " + e.getOriginalMessage())));
    } catch (IOException e) {
      throw new IllegalStateException("reading from a string cannot fail with I/O", e);
    }
    return new Reader(lines).read(root);
  }

  /** JSON pointer of every object, array and field -> the line it starts on. */
  private static Map<String, Integer> lines(JsonFactory factory, String text) throws IOException {
    Map<String, Integer> lines = new HashMap<>();
    try (JsonParser p = factory.createParser(text)) {
      JsonToken t;
      while ((t = p.nextToken()) != null) {
        String pointer = p.getParsingContext().pathAsPointer().toString();
        if (t == JsonToken.START_OBJECT || t == JsonToken.START_ARRAY) {
          pointer = p.getParsingContext().getParent() == null ? ""
              : p.getParsingContext().getParent().pathAsPointer().toString();
        }
        lines.putIfAbsent(pointer, p.currentTokenLocation().getLineNr());
      }
    }
    return lines;
  }

  private final class Reader {
    private final Map<String, Integer> lines;
    private final List<DefinitionError> errors = new ArrayList<>();

    Reader(Map<String, Integer> lines) {
      this.lines = lines;
    }

    int line(String pointer) {
      String p = pointer;
      while (true) {
        Integer l = lines.get(p);
        if (l != null) {
          return l;
        }
        int cut = p.lastIndexOf('/');
        if (cut < 0) {
          return 0;
        }
        p = p.substring(0, cut);
      }
    }

    void error(String code, String stepId, String pointer, String message) {
      errors.add(new DefinitionError(code, stepId, line(pointer), message));
    }

    WorkflowDefinition read(JsonNode root) {
      String base = "";
      if (root != null && root.isObject() && root.size() == 1 && root.has("workflow")) {
        root = root.get("workflow");
        base = "/workflow";
      }
      if (root == null || !root.isObject()) {
        throw new InvalidDefinitionException(List.of(new DefinitionError(DefinitionError.INVALID, null, 1,
            "a workflow definition is an object with id, description, owner, params and steps")));
      }
      unknownFields(root, TOP_FIELDS, null, base);
      String id = text(root, "id", null, base).orElse(null);
      if (id == null || !WORKFLOW_ID.matcher(id).matches()) {
        error(DefinitionError.INVALID, null, base + "/id",
            "id is required: 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit");
      }
      Map<String, JsonNode> params = new LinkedHashMap<>();
      JsonNode p = root.get("params");
      if (p != null && !p.isNull()) {
        if (!p.isObject()) {
          error(DefinitionError.INVALID, null, base + "/params", "params is a map of name -> default value");
        } else {
          p.fields().forEachRemaining(f -> params.put(f.getKey(), f.getValue()));
        }
      }
      JsonNode stepsNode = root.get("steps");
      if (stepsNode == null || !stepsNode.isArray() || stepsNode.isEmpty()) {
        error(DefinitionError.INVALID, null, base + "/steps", "steps is a non-empty list");
        throw new InvalidDefinitionException(errors);
      }
      int total = countSteps(stepsNode);
      if (total > maxSteps) {
        error(DefinitionError.TOO_MANY_STEPS, null, base + "/steps",
            "the DAG has " + total + " steps (foreach bodies included); the limit is " + maxSteps);
        throw new InvalidDefinitionException(errors);
      }
      List<StepDefinition> steps = readDag(stepsNode, base + "/steps", List.of());
      if (!errors.isEmpty()) {
        throw new InvalidDefinitionException(errors);
      }
      Optional<Duration> timeout = text(root, "timeout", null, base).map(t -> duration(t, null, "/timeout"));
      Optional<Integer> maxRunning = Optional.empty();
      JsonNode mr = root.get("maxRunningInstances");
      if (mr != null) {
        if (!mr.canConvertToExactIntegral() || mr.asInt() < 1 || mr.asInt() > 10_000) {
          error(DefinitionError.INVALID, null, base + "/maxRunningInstances",
              "maxRunningInstances is 1..10000 (1 runs instances one after another)");
        } else {
          maxRunning = Optional.of(mr.asInt());
        }
      }
      RunStrategy strategy = RunStrategy.PARALLEL;
      Optional<String> strategyName = text(root, "runStrategy", null, base);
      if (strategyName.isPresent()) {
        strategy = RunStrategy.parse(strategyName.get()).orElse(null);
        if (strategy == null) {
          error(DefinitionError.INVALID, null, base + "/runStrategy", "unknown runStrategy '" + strategyName.get()
              + "'; known: " + RunStrategy.known());
          strategy = RunStrategy.PARALLEL;
        } else if (strategy != RunStrategy.PARALLEL && maxRunning.isPresent() && maxRunning.get() != 1) {
          error(DefinitionError.INVALID, null, base + "/maxRunningInstances", "runStrategy " + strategy.yamlName()
              + " runs one instance at a time; maxRunningInstances applies to parallel only");
        }
      }
      if (!errors.isEmpty()) {
        throw new InvalidDefinitionException(errors);
      }
      return new WorkflowDefinition(id, text(root, "description", null, base).orElse(""),
          text(root, "owner", null, base).orElse(""), params, steps, timeout, maxRunning, strategy);
    }

    int countSteps(JsonNode steps) {
      int n = 0;
      for (JsonNode s : steps) {
        n++;
        JsonNode body = s.path("foreach").path("steps");
        if (body.isArray()) {
          n += countSteps(body);
        }
      }
      return n;
    }

    List<StepDefinition> readDag(JsonNode stepsNode, String pointer, List<String> loopVars) {
      List<StepDefinition> steps = new ArrayList<>();
      Map<String, Integer> seen = new HashMap<>();
      for (int i = 0; i < stepsNode.size(); i++) {
        String sp = pointer + "/" + i;
        JsonNode s = stepsNode.get(i);
        if (!s.isObject()) {
          error(DefinitionError.INVALID, null, sp, "a step is an object with at least id and type");
          continue;
        }
        StepDefinition step = readStep(s, sp, loopVars);
        if (step == null) {
          continue;
        }
        Integer first = seen.putIfAbsent(step.id(), step.line());
        if (first != null) {
          error(DefinitionError.DUPLICATE_STEP_ID, step.id(), sp + "/id",
              "step id '" + step.id() + "' is already used on line " + first);
          continue;
        }
        steps.add(step);
      }
      Map<String, StepDefinition> byId = new LinkedHashMap<>();
      steps.forEach(s -> byId.put(s.id(), s));
      for (int i = 0; i < steps.size(); i++) {
        StepDefinition s = steps.get(i);
        for (String dep : s.dependsOn()) {
          if (!byId.containsKey(dep)) {
            errors.add(new DefinitionError(DefinitionError.UNKNOWN_REFERENCE, s.id(), s.line(),
                "dependsOn names '" + dep + "', which is not a step " + (loopVars.isEmpty()
                    ? "of this workflow" : "of this foreach body") + "; known: " + byId.keySet()));
          }
        }
      }
      List<String> cycle = findCycle(byId);
      if (!cycle.isEmpty()) {
        StepDefinition at = byId.get(cycle.get(0));
        errors.add(new DefinitionError(DefinitionError.CYCLE, at.id(), at.line(),
            "dependsOn forms a cycle: " + String.join(" -> ", cycle)));
      } else {
        checkExpressions(steps, byId, pointer, loopVars);
      }
      return steps;
    }

    StepDefinition readStep(JsonNode s, String sp, List<String> loopVars) {
      int line = line(sp);
      Optional<String> rawId = text(s, "id", null, sp);
      if (rawId.isEmpty() || !STEP_ID.matcher(rawId.get()).matches()) {
        error(DefinitionError.INVALID, rawId.orElse(null), sp + "/id",
            "step id is required: a letter or '_', then up to 63 letters, digits, '_' or '-'");
        return null;
      }
      String id = rawId.get();
      unknownFields(s, STEP_FIELDS, id, sp);
      Optional<String> typeName = text(s, "type", id, sp);
      StepType type = typeName.flatMap(StepType::parse).orElse(null);
      if (type == null) {
        error(DefinitionError.UNKNOWN_STEP_TYPE, id, sp + (typeName.isPresent() ? "/type" : ""),
            typeName.map(t -> "unknown step type '" + t + "'").orElse("type is required")
                + "; known types: " + StepType.known());
      }
      List<String> dependsOn = new ArrayList<>();
      JsonNode deps = s.get("dependsOn");
      if (deps != null) {
        if (deps.isTextual()) {
          dependsOn.add(deps.textValue());
        } else if (deps.isArray()) {
          deps.forEach(d -> dependsOn.add(d.asText()));
        } else {
          error(DefinitionError.INVALID, id, sp + "/dependsOn", "dependsOn is a list of step ids");
        }
      }
      Optional<String> condition = text(s, "if", id, sp).map(Expressions::unwrap);
      Map<String, JsonNode> params = new LinkedHashMap<>();
      JsonNode p = s.get("params");
      if (p != null && !p.isNull()) {
        if (p.isObject()) {
          p.fields().forEachRemaining(f -> params.put(f.getKey(), f.getValue()));
        } else {
          error(DefinitionError.INVALID, id, sp + "/params", "params is a map of name -> value");
        }
      }
      RetryPolicy retry = readRetry(s.get("retry"), id, sp + "/retry");
      Optional<Duration> timeout = text(s, "timeout", id, sp).map(t -> duration(t, id, sp + "/timeout"));
      Optional<ForeachSpec> foreach = Optional.empty();
      if (type == StepType.FOREACH) {
        foreach = readForeach(s.get("foreach"), id, sp + "/foreach", loopVars);
      } else if (s.has("foreach")) {
        error(DefinitionError.INVALID, id, sp + "/foreach", "only a step of type foreach has a foreach block");
      }
      if (type == StepType.WAIT && !params.containsKey("duration")) {
        error(DefinitionError.INVALID, id, sp, "a wait step needs params.duration (e.g. 10s, 5m)");
      }
      if (type == StepType.WAIT && params.containsKey("duration") && params.get("duration").isTextual()
          && !params.get("duration").textValue().contains("${")) {
        duration(params.get("duration").textValue(), id, sp + "/params/duration");
      }
      if (type == StepType.HTTP && !params.containsKey("url")) {
        error(DefinitionError.INVALID, id, sp, "an http step needs params.url");
      }
      if (type == StepType.SUBWORKFLOW && !params.containsKey("workflowId")) {
        error(DefinitionError.INVALID, id, sp, "a subworkflow step needs params.workflowId");
      }
      if (type == StepType.SIGNAL) {
        checkSignal(params, id, sp);
      }
      if (type == StepType.DEVICE_COMMAND) {
        checkDeviceCommand(params, id, sp);
      }
      if (type == StepType.DISTRIBUTION) {
        checkDistribution(params, id, sp);
      }
      Optional<WorkflowDefinition.Gate> gate = readGate(s.get("gate"), id, sp + "/gate", loopVars);
      return new StepDefinition(id, type == null ? StepType.NOOP : type, List.copyOf(dependsOn), condition,
          params, retry, timeout, foreach, line, gate);
    }

    Optional<WorkflowDefinition.Gate> readGate(JsonNode g, String id, String gp, List<String> loopVars) {
      if (g == null || g.isNull()) {
        return Optional.empty();
      }
      if (!g.isObject()) {
        error(DefinitionError.INVALID, id, gp, "gate is an object: signal, condition, lookback");
        return Optional.empty();
      }
      unknownFields(g, Set.of("signal", "condition", "lookback"), id, gp);
      Optional<String> signal = text(g, "signal", id, gp);
      if (signal.isEmpty() || !SIGNAL_NAME.matcher(signal.get()).matches()) {
        error(DefinitionError.INVALID, id, gp + "/signal", "gate.signal is required: a signal name of 1-128"
            + " letters, digits and . _ : -, starting with a letter or digit");
        return Optional.empty();
      }
      if (loopVars.contains(GATE_SIGNAL_VAR)) {
        error(DefinitionError.INVALID, id, gp, "a gate condition reads the signal as '" + GATE_SIGNAL_VAR
            + "', which an enclosing foreach already names its items; rename foreach.as");
      }
      Optional<String> condition = text(g, "condition", id, gp).map(Expressions::unwrap)
          .filter(c -> !c.isBlank());
      Duration lookback = text(g, "lookback", id, gp).map(t -> duration(t, id, gp + "/lookback"))
          .orElse(Duration.ZERO);
      if (lookback.compareTo(MAX_GATE_LOOKBACK) > 0) {
        error(DefinitionError.INVALID, id, gp + "/lookback", "gate.lookback is at most "
            + MAX_GATE_LOOKBACK.toDays() + "d");
      }
      return Optional.of(new WorkflowDefinition.Gate(signal.get(), condition, lookback));
    }

    /**
     * deviceSessionId and name are required; literal values are checked here (templates when the
     * step runs): name a string, params a map, timeoutMs a whole number of milliseconds >= 1.
     */
    void checkDeviceCommand(Map<String, JsonNode> params, String id, String sp) {
      for (String required : List.of("deviceSessionId", "name")) {
        if (!params.containsKey(required)) {
          error(DefinitionError.INVALID, id, sp, "a device-command step needs params." + required
              + " (params: deviceSessionId, name, params, timeoutMs)");
        }
      }
      JsonNode name = params.get("name");
      if (name != null && !name.isTextual()) {
        error(DefinitionError.INVALID, id, sp + "/params/name", "params.name of a device-command step is a string");
      }
      JsonNode commandParams = params.get("params");
      if (commandParams != null && !commandParams.isNull() && !commandParams.isObject()
          && !(commandParams.isTextual() && commandParams.textValue().contains("${"))) {
        error(DefinitionError.INVALID, id, sp + "/params/params", "params.params of a device-command step is a map"
            + " (the command's params)");
      }
      JsonNode timeoutMs = params.get("timeoutMs");
      if (timeoutMs != null && !(timeoutMs.isTextual() && timeoutMs.textValue().contains("${"))
          && (!timeoutMs.isIntegralNumber() || timeoutMs.asLong() < 1)) {
        error(DefinitionError.INVALID, id, sp + "/params/timeoutMs", "params.timeoutMs of a device-command step is"
            + " a whole number of milliseconds >= 1");
      }
      for (String key : params.keySet()) {
        if (!Set.of("deviceSessionId", "name", "params", "timeoutMs").contains(key)) {
          error(DefinitionError.INVALID, id, sp + "/params/" + key, "unknown device-command step param '" + key
              + "'; known: [deviceSessionId, name, params, timeoutMs]");
        }
      }
    }

    /** name is required; params, when written literally, is a map; nothing else is accepted. */
    void checkSignal(Map<String, JsonNode> params, String id, String sp) {
      JsonNode name = params.get("name");
      if (name == null || name.isNull() || (name.isTextual() && name.textValue().isBlank())) {
        error(DefinitionError.INVALID, id, sp, "a signal step needs params.name (the signal name subscriptions"
            + " listen to)");
      } else if (!name.isTextual()) {
        error(DefinitionError.INVALID, id, sp + "/params/name", "params.name of a signal step is a string");
      }
      JsonNode signalParams = params.get("params");
      if (signalParams != null && !signalParams.isNull() && !signalParams.isObject()
          && !(signalParams.isTextual() && signalParams.textValue().contains("${"))) {
        error(DefinitionError.INVALID, id, sp + "/params/params", "params.params of a signal step is a map of"
            + " name -> value (the signal's params)");
      }
      JsonNode signalId = params.get("signalId");
      if (signalId != null && !signalId.isNull() && !signalId.isTextual()) {
        error(DefinitionError.INVALID, id, sp + "/params/signalId", "params.signalId of a signal step is a string"
            + " (a template such as \"order-${params.orderId}\")");
      }
      for (String key : params.keySet()) {
        if (!Set.of("name", "params", "signalId").contains(key)) {
          error(DefinitionError.INVALID, id, sp + "/params/" + key, "unknown signal step param '" + key
              + "'; known: [name, params, signalId]");
        }
      }
    }

    /**
     * The body of POST /api/v1/distributions (files, recipients, watermarkTemplate, passwordProtect,
     * linkTtlSeconds, emailNotification), plus documentIds (a list of ids: files with default names)
     * and options (a map of the four option fields). Values may be templates; their content is
     * checked when the step runs, by the same validation as the HTTP API.
     */
    void checkDistribution(Map<String, JsonNode> params, String id, String sp) {
      if (!params.containsKey("files") && !params.containsKey("documentIds")) {
        error(DefinitionError.INVALID, id, sp, "a distribution step needs params.files ([{documentId, name}]) or"
            + " params.documentIds ([id, ...])");
      }
      if (!params.containsKey("recipients")) {
        error(DefinitionError.INVALID, id, sp, "a distribution step needs params.recipients ([{name, email}])");
      }
      for (String key : params.keySet()) {
        if (!DISTRIBUTION_PARAMS.contains(key)) {
          error(DefinitionError.INVALID, id, sp + "/params/" + key, "unknown distribution step param '" + key
              + "'; known: " + new java.util.TreeSet<>(DISTRIBUTION_PARAMS));
        }
      }
      JsonNode options = params.get("options");
      if (options != null && options.isObject()) {
        options.fieldNames().forEachRemaining(f -> {
          if (!DISTRIBUTION_OPTIONS.contains(f)) {
            error(DefinitionError.INVALID, id, sp + "/params/options/" + f, "unknown distribution option '" + f
                + "'; known: " + new java.util.TreeSet<>(DISTRIBUTION_OPTIONS));
          }
        });
      }
    }

    Optional<ForeachSpec> readForeach(JsonNode f, String id, String fp, List<String> loopVars) {
      if (f == null || !f.isObject()) {
        error(DefinitionError.INVALID, id, fp, "a foreach step needs a foreach block: items, as, steps");
        return Optional.empty();
      }
      unknownFields(f, Set.of("items", "as", "concurrency", "steps"), id, fp);
      Optional<String> items = text(f, "items", id, fp).map(Expressions::unwrap);
      if (items.isEmpty()) {
        error(DefinitionError.INVALID, id, fp, "foreach.items is required: a CEL list expression");
      }
      String as = text(f, "as", id, fp).orElse("item");
      if (!IDENTIFIER.matcher(as).matches() || Expressions.RESERVED.contains(as) || loopVars.contains(as)) {
        error(DefinitionError.INVALID, id, fp + "/as", "foreach.as '" + as + "' must be an identifier that is not "
            + Expressions.RESERVED + " or an enclosing loop's variable " + loopVars);
      }
      int concurrency = f.path("concurrency").asInt(10);
      if (concurrency < 1 || concurrency > maxConcurrency) {
        error(DefinitionError.INVALID, id, fp + "/concurrency", "foreach.concurrency must be 1.." + maxConcurrency);
      }
      JsonNode body = f.get("steps");
      if (body == null || !body.isArray() || body.isEmpty()) {
        error(DefinitionError.INVALID, id, fp + "/steps", "foreach.steps is a non-empty list of steps");
        return Optional.empty();
      }
      List<String> inner = new ArrayList<>(loopVars);
      inner.add(as);
      List<StepDefinition> steps = readDag(body, fp + "/steps", inner);
      return Optional.of(new ForeachSpec(items.orElse("[]"), as, concurrency, steps));
    }

    RetryPolicy readRetry(JsonNode r, String id, String rp) {
      if (r == null || r.isNull()) {
        return RetryPolicy.NONE;
      }
      if (!r.isObject()) {
        error(DefinitionError.INVALID, id, rp, "retry is an object: maxAttempts, backoff, maxBackoff, on");
        return RetryPolicy.NONE;
      }
      unknownFields(r, Set.of("maxAttempts", "backoff", "maxBackoff", "on"), id, rp);
      int attempts = r.path("maxAttempts").asInt(1);
      if (attempts < 1 || attempts > 100) {
        error(DefinitionError.INVALID, id, rp + "/maxAttempts", "retry.maxAttempts must be 1..100");
      }
      Duration backoff = text(r, "backoff", id, rp).map(t -> duration(t, id, rp + "/backoff"))
          .orElse(Duration.ofSeconds(1));
      Duration max = text(r, "maxBackoff", id, rp).map(t -> duration(t, id, rp + "/maxBackoff"))
          .orElse(Duration.ofMinutes(5));
      List<FailureKind> on = new ArrayList<>();
      JsonNode kinds = r.get("on");
      if (kinds == null) {
        on.addAll(List.of(FailureKind.PLATFORM, FailureKind.USER));
      } else {
        for (JsonNode k : kinds.isArray() ? kinds : JSON.createArrayNode().add(kinds)) {
          try {
            on.add(FailureKind.valueOf(k.asText().toUpperCase(Locale.ROOT)));
          } catch (IllegalArgumentException e) {
            error(DefinitionError.INVALID, id, rp + "/on", "retry.on lists platform and/or user, not '"
                + k.asText() + "'");
          }
        }
      }
      return new RetryPolicy(Math.max(1, attempts), backoff, max, List.copyOf(on));
    }

    /** Every CEL expression of a DAG: it compiles, and reads only steps upstream of its own. */
    void checkExpressions(List<StepDefinition> steps, Map<String, StepDefinition> byId, String pointer,
        List<String> loopVars) {
      for (int i = 0; i < steps.size(); i++) {
        StepDefinition s = steps.get(i);
        String sp = pointer + "/" + indexOf(s, pointer);
        Set<String> upstream = ancestors(s.id(), byId);
        s.condition().ifPresent(c -> checkOne(c, s, sp + "/if", loopVars, upstream));
        s.params().forEach((name, value) -> {
          for (String e : Expressions.expressionsIn(value)) {
            checkOne(e, s, sp + "/params/" + name, loopVars, upstream);
          }
        });
        s.foreach().ifPresent(f -> checkOne(f.items(), s, sp + "/foreach/items", loopVars, upstream));
        s.gate().flatMap(WorkflowDefinition.Gate::condition).ifPresent(c -> {
          List<String> withSignal = new ArrayList<>(loopVars);
          withSignal.add(GATE_SIGNAL_VAR);
          checkOne(c, s, sp + "/gate/condition", withSignal, upstream);
        });
      }
    }

    int indexOf(StepDefinition s, String pointer) {
      // Steps keep their source order except dropped invalid ones; find by line.
      for (int i = 0; ; i++) {
        Integer l = lines.get(pointer + "/" + i);
        if (l == null) {
          return 0;
        }
        if (l == s.line()) {
          return i;
        }
      }
    }

    void checkOne(String expression, StepDefinition s, String pointer, List<String> loopVars, Set<String> upstream) {
      try {
        Set<String> reads = expressions.check(expression, Expressions.scopeOf(loopVars));
        for (String r : reads) {
          if (!upstream.contains(r)) {
            error(DefinitionError.UNKNOWN_REFERENCE, s.id(), pointer, "'" + expression + "' reads steps." + r
                + ", which is not upstream of step '" + s.id() + "' (add it to dependsOn, directly or"
                + " transitively); upstream: " + upstream);
          }
        }
      } catch (Expressions.ExpressionException e) {
        error(DefinitionError.BAD_EXPRESSION, s.id(), pointer, "invalid CEL " + e.getMessage());
      }
    }

    Optional<String> text(JsonNode node, String field, String stepId, String pointer) {
      JsonNode v = node.get(field);
      if (v == null || v.isNull()) {
        return Optional.empty();
      }
      if (!v.isValueNode()) {
        error(DefinitionError.INVALID, stepId, pointer + "/" + field, field + " must be a plain value");
        return Optional.empty();
      }
      return Optional.of(v.asText());
    }

    void unknownFields(JsonNode node, Set<String> known, String stepId, String pointer) {
      node.fieldNames().forEachRemaining(f -> {
        if (!known.contains(f)) {
          error(DefinitionError.INVALID, stepId, pointer + "/" + f,
              "unknown field '" + f + "'; known fields: " + new java.util.TreeSet<>(known));
        }
      });
    }

    Duration duration(String text, String stepId, String pointer) {
      try {
        return parseDuration(text);
      } catch (IllegalArgumentException e) {
        error(DefinitionError.INVALID, stepId, pointer, e.getMessage());
        return Duration.ofSeconds(1);
      }
    }
  }

  /** {@code 500ms}, {@code 30s}, {@code 5m}, {@code 2h}, {@code 1d}, or ISO-8601 ({@code PT30S}). */
  public static Duration parseDuration(String text) {
    String t = text.strip();
    Matcher m = DURATION.matcher(t);
    if (m.matches()) {
      long n = Long.parseLong(m.group(1));
      return switch (m.group(2)) {
        case "ms" -> Duration.ofMillis(n);
        case "s" -> Duration.ofSeconds(n);
        case "m" -> Duration.ofMinutes(n);
        case "h" -> Duration.ofHours(n);
        default -> Duration.ofDays(n);
      };
    }
    try {
      return Duration.parse(t);
    } catch (java.time.format.DateTimeParseException e) {
      throw new IllegalArgumentException("'" + text + "' is not a duration (500ms, 30s, 5m, 2h, 1d or PT30S)");
    }
  }

  /** The steps a step transitively depends on. */
  static Set<String> ancestors(String stepId, Map<String, StepDefinition> byId) {
    Set<String> out = new HashSet<>();
    List<String> todo = new ArrayList<>(List.of(stepId));
    while (!todo.isEmpty()) {
      StepDefinition s = byId.get(todo.remove(todo.size() - 1));
      if (s == null) {
        continue;
      }
      for (String d : s.dependsOn()) {
        if (out.add(d)) {
          todo.add(d);
        }
      }
    }
    return out;
  }

  /** One cycle as a path (first step repeated at the end), or empty. */
  static List<String> findCycle(Map<String, StepDefinition> byId) {
    Map<String, Integer> color = new HashMap<>(); // 1 = on the stack, 2 = done
    for (String start : byId.keySet()) {
      List<String> path = new ArrayList<>();
      List<String> cycle = dfs(start, byId, color, path);
      if (!cycle.isEmpty()) {
        return cycle;
      }
    }
    return List.of();
  }

  private static List<String> dfs(String id, Map<String, StepDefinition> byId, Map<String, Integer> color,
      List<String> path) {
    Integer c = color.get(id);
    if (c != null && c == 2) {
      return List.of();
    }
    if (c != null && c == 1) {
      List<String> cycle = new ArrayList<>(path.subList(path.indexOf(id), path.size()));
      cycle.add(id);
      return cycle;
    }
    StepDefinition s = byId.get(id);
    if (s == null) {
      return List.of();
    }
    color.put(id, 1);
    path.add(id);
    for (String d : s.dependsOn()) {
      List<String> cycle = dfs(d, byId, color, path);
      if (!cycle.isEmpty()) {
        return cycle;
      }
    }
    path.remove(path.size() - 1);
    color.put(id, 2);
    return List.of();
  }
}
