package io.fleetplane.jobs.workflow.domain;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.google.protobuf.util.Durations;
import com.google.protobuf.util.Timestamps;
import dev.cel.bundle.Cel;
import dev.cel.bundle.CelFactory;
import dev.cel.common.CelAbstractSyntaxTree;
import dev.cel.common.CelFunctionDecl;
import dev.cel.common.CelIssue;
import dev.cel.common.CelOptions;
import dev.cel.common.CelOverloadDecl;
import dev.cel.common.CelValidationException;
import dev.cel.common.ast.CelExpr;
import dev.cel.common.navigation.CelNavigableAst;
import dev.cel.common.types.CelType;
import dev.cel.common.types.ListType;
import dev.cel.common.types.MapType;
import dev.cel.common.types.SimpleType;
import dev.cel.parser.CelStandardMacro;
import dev.cel.runtime.CelEvaluationException;
import dev.cel.runtime.CelRuntime;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Every expression in a workflow definition is CEL (Common Expression Language): side-effect free,
 * non-Turing-complete (loops only over existing lists, via macros), and here cost-limited by
 * expression size, nesting depth and iterations per comprehension. No Java, no script engine,
 * nothing from a definition ever reaches a class loader.
 *
 * <p>What an expression sees: {@code params} (the instance's parameters), {@code steps} (outputs
 * of upstream steps: {@code steps.step1.dates}), {@code now} (the instance's start time, so a
 * replay evaluates the same), {@code instance} ({@code id}, {@code workflowId}, {@code version}),
 * and inside a foreach body the loop variable of every enclosing loop by its {@code as} name.
 *
 * <p>Two functions are added for schedules and loops: {@code timeRange(start, end, step)} (the
 * timestamps from start, inclusive, to end, exclusive) and {@code range(n)} ([0, n)); both are
 * capped at {@link Limits#maxListSize()} elements.
 *
 * <p>Compiled programs are cached by expression and scope (they are immutable and thread-safe),
 * so a loop of 100,000 iterations compiles its body's expressions once.
 */
public final class Expressions {

  /**
   * @param maxExpressionLength code points per expression
   * @param maxNesting parser recursion depth
   * @param maxComprehensionIterations iterations per comprehension ({@code map}, {@code all}, ...)
   * @param maxListSize elements {@code timeRange}/{@code range} may produce
   */
  public record Limits(int maxExpressionLength, int maxNesting, int maxComprehensionIterations, int maxListSize) {
    public static final Limits DEFAULT = new Limits(4096, 32, 100_000, 100_000);
  }

  /** Names the engine always declares; a foreach {@code as} may not reuse one. */
  public static final Set<String> RESERVED = Set.of("params", "steps", "now", "instance");

  private static final Pattern TEMPLATE = Pattern.compile("\\$\\{(.*?)}");
  private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

  private final Limits limits;
  private final Map<String, CelRuntime.Program> programs = new ConcurrentHashMap<>();
  private final Map<Set<String>, Cel> environments = new ConcurrentHashMap<>();

  public Expressions(Limits limits) {
    this.limits = limits;
  }

  /** A rejected expression: the message is CEL's own, with line and column inside the expression. */
  public static final class ExpressionException extends RuntimeException {
    public ExpressionException(String message, Throwable cause) {
      super(message, cause, false, false);
    }
  }

  /**
   * What an expression is evaluated against.
   *
   * @param params instance parameters
   * @param steps outputs of finished steps by step id
   * @param now the instance's start time
   * @param instance id, workflowId, version
   * @param loopVars the variables of enclosing foreach loops
   */
  public record Scope(Map<String, JsonNode> params, Map<String, JsonNode> steps, Instant now,
      Map<String, Object> instance, Map<String, JsonNode> loopVars) {}

  /**
   * Parses and type-checks an expression in a scope with the given loop variables.
   *
   * @return the step ids it reads through {@code steps}
   * @throws ExpressionException when it does not parse, type-check, or uses an unknown name
   */
  public Set<String> check(String expression, Set<String> loopVars) {
    CelAbstractSyntaxTree ast = compile(expression, loopVars);
    Set<String> referenced = new TreeSet<>();
    CelNavigableAst.fromAst(ast).getRoot().allNodes().forEach(node -> {
      CelExpr e = node.expr();
      switch (e.getKind()) {
        case SELECT -> {
          CelExpr operand = e.select().operand();
          if (operand.getKind() == CelExpr.ExprKind.Kind.IDENT && operand.ident().name().equals("steps")) {
            referenced.add(e.select().field());
          }
        }
        case CALL -> {
          var call = e.call();
          if (call.function().equals("_[_]") && call.args().size() == 2
              && call.args().get(0).getKind() == CelExpr.ExprKind.Kind.IDENT
              && call.args().get(0).ident().name().equals("steps")
              && call.args().get(1).getKind() == CelExpr.ExprKind.Kind.CONSTANT
              && call.args().get(1).constant().getKind() == dev.cel.common.ast.CelConstant.Kind.STRING_VALUE) {
            referenced.add(call.args().get(1).constant().stringValue());
          }
        }
        default -> { }
      }
    });
    return referenced;
  }

  /** Evaluates one expression (no {@code ${}} around it). */
  public JsonNode evaluate(String expression, Scope scope) {
    CelRuntime.Program program = program(expression, scope.loopVars().keySet());
    Map<String, Object> vars = new HashMap<>();
    vars.put("params", toCel(scope.params()));
    vars.put("steps", toCel(scope.steps()));
    vars.put("now", Timestamps.fromMillis(scope.now().toEpochMilli()));
    vars.put("instance", scope.instance());
    scope.loopVars().forEach((k, v) -> vars.put(k, toCel(v)));
    try {
      return toJson(program.eval(vars));
    } catch (CelEvaluationException e) {
      throw new ExpressionException("'" + expression + "' failed: " + e.getMessage(), e);
    } catch (RuntimeException e) {
      throw new ExpressionException("'" + expression + "' failed: " + e, e);
    }
  }

  /** Evaluates a condition; anything but boolean true is false. */
  public boolean test(String expression, Scope scope) {
    JsonNode result = evaluate(expression, scope);
    return result.isBoolean() && result.booleanValue();
  }

  /**
   * Resolves a parameter value: a string that is exactly {@code ${expr}} becomes the expression's
   * value (any type); a string with {@code ${expr}} inside text gets each value spliced in as text;
   * objects and arrays are resolved element by element; everything else is literal.
   */
  public JsonNode resolve(JsonNode template, Scope scope) {
    if (template == null) {
      return NODES.nullNode();
    }
    if (template.isTextual()) {
      String text = template.textValue();
      String whole = wholeExpression(text);
      if (whole != null) {
        return evaluate(whole, scope);
      }
      Matcher m = TEMPLATE.matcher(text);
      if (!m.find()) {
        return template;
      }
      StringBuilder out = new StringBuilder();
      m.reset();
      while (m.find()) {
        JsonNode v = evaluate(m.group(1), scope);
        m.appendReplacement(out, Matcher.quoteReplacement(v.isTextual() ? v.textValue() : v.toString()));
      }
      m.appendTail(out);
      return NODES.textNode(out.toString());
    }
    if (template.isObject()) {
      ObjectNode out = NODES.objectNode();
      template.fields().forEachRemaining(f -> out.set(f.getKey(), resolve(f.getValue(), scope)));
      return out;
    }
    if (template.isArray()) {
      ArrayNode out = NODES.arrayNode();
      template.forEach(e -> out.add(resolve(e, scope)));
      return out;
    }
    return template;
  }

  /** Every expression inside a parameter template (for validation). */
  public static List<String> expressionsIn(JsonNode template) {
    List<String> found = new ArrayList<>();
    collect(template, found);
    return found;
  }

  private static void collect(JsonNode node, List<String> found) {
    if (node == null) {
      return;
    }
    if (node.isTextual()) {
      String whole = wholeExpression(node.textValue());
      if (whole != null) {
        found.add(whole);
        return;
      }
      Matcher m = TEMPLATE.matcher(node.textValue());
      while (m.find()) {
        found.add(m.group(1));
      }
    } else if (node.isContainerNode()) {
      node.forEach(child -> collect(child, found));
    }
  }

  /** {@code ${expr}} as the whole string gives {@code expr}; a bare expression field is also accepted. */
  public static String unwrap(String expression) {
    String whole = wholeExpression(expression.strip());
    return whole != null ? whole : expression.strip();
  }

  private static String wholeExpression(String text) {
    if (text.startsWith("${") && text.endsWith("}") && text.indexOf("${", 2) < 0) {
      return text.substring(2, text.length() - 1);
    }
    return null;
  }

  private CelAbstractSyntaxTree compile(String expression, Set<String> loopVars) {
    if (expression.codePointCount(0, expression.length()) > limits.maxExpressionLength()) {
      throw new ExpressionException("expression is longer than " + limits.maxExpressionLength()
          + " characters", null);
    }
    try {
      return environment(loopVars).compile(expression).getAst();
    } catch (CelValidationException e) {
      StringBuilder msg = new StringBuilder();
      for (CelIssue issue : e.getErrors()) {
        if (!msg.isEmpty()) {
          msg.append("; ");
        }
        msg.append(issue.getMessage());
        if (issue.getSourceLocation().getLine() > 0) {
          msg.append(" (expression line ").append(issue.getSourceLocation().getLine())
              .append(", column ").append(issue.getSourceLocation().getColumn() + 1).append(')');
        }
      }
      throw new ExpressionException("'" + expression + "': " + msg, e);
    }
  }

  private CelRuntime.Program program(String expression, Set<String> loopVars) {
    String key = String.join(",", new TreeSet<>(loopVars)) + "|" + expression;
    CelRuntime.Program cached = programs.get(key);
    if (cached != null) {
      return cached;
    }
    try {
      CelRuntime.Program program = environment(loopVars).createProgram(compile(expression, loopVars));
      if (programs.size() < 10_000) {
        programs.put(key, program);
      }
      return program;
    } catch (CelEvaluationException e) {
      throw new ExpressionException("'" + expression + "': " + e.getMessage(), e);
    }
  }

  private Cel environment(Set<String> loopVars) {
    return environments.computeIfAbsent(Set.copyOf(loopVars), this::newEnvironment);
  }

  private Cel newEnvironment(Set<String> loopVars) {
    CelOptions options = CelOptions.current()
        .maxExpressionCodePointSize(limits.maxExpressionLength())
        .maxParseRecursionDepth(limits.maxNesting())
        .comprehensionMaxIterations(limits.maxComprehensionIterations())
        .build();
    CelType dyn = SimpleType.DYN;
    var builder = CelFactory.standardCelBuilder()
        .setOptions(options)
        .setStandardMacros(CelStandardMacro.STANDARD_MACROS)
        .addVar("params", MapType.create(SimpleType.STRING, dyn))
        .addVar("steps", MapType.create(SimpleType.STRING, MapType.create(SimpleType.STRING, dyn)))
        .addVar("now", SimpleType.TIMESTAMP)
        .addVar("instance", MapType.create(SimpleType.STRING, dyn))
        .addFunctionDeclarations(
            CelFunctionDecl.newFunctionDeclaration("timeRange", CelOverloadDecl.newGlobalOverload(
                "time_range_timestamp_timestamp_duration", ListType.create(SimpleType.TIMESTAMP),
                SimpleType.TIMESTAMP, SimpleType.TIMESTAMP, SimpleType.DURATION)),
            CelFunctionDecl.newFunctionDeclaration("range", CelOverloadDecl.newGlobalOverload(
                "range_int", ListType.create(SimpleType.INT), SimpleType.INT)))
        .addFunctionBindings(
            CelRuntime.CelFunctionBinding.from("time_range_timestamp_timestamp_duration",
                List.of(com.google.protobuf.Timestamp.class, com.google.protobuf.Timestamp.class,
                    com.google.protobuf.Duration.class), this::timeRange),
            CelRuntime.CelFunctionBinding.from("range_int", Long.class, this::range));
    for (String v : loopVars) {
      builder.addVar(v, dyn);
    }
    return builder.build();
  }

  private Object timeRange(Object[] args) throws CelEvaluationException {
    long start = Timestamps.toMillis((com.google.protobuf.Timestamp) args[0]);
    long end = Timestamps.toMillis((com.google.protobuf.Timestamp) args[1]);
    long step = Durations.toMillis((com.google.protobuf.Duration) args[2]);
    if (step <= 0) {
      throw new CelEvaluationException("timeRange: the step must be positive");
    }
    long n = end <= start ? 0 : (end - start + step - 1) / step;
    if (n > limits.maxListSize()) {
      throw new CelEvaluationException("timeRange: " + n + " elements, more than the limit of "
          + limits.maxListSize());
    }
    List<com.google.protobuf.Timestamp> out = new ArrayList<>((int) n);
    for (long t = start; t < end; t += step) {
      out.add(Timestamps.fromMillis(t));
    }
    return out;
  }

  private Object range(Long n) throws CelEvaluationException {
    if (n < 0 || n > limits.maxListSize()) {
      throw new CelEvaluationException("range: " + n + " is outside [0, " + limits.maxListSize() + "]");
    }
    List<Long> out = new ArrayList<>(n.intValue());
    for (long i = 0; i < n; i++) {
      out.add(i);
    }
    return out;
  }

  /** JSON -> the values CEL's runtime works with (Long, Double, String, Boolean, List, Map, null). */
  static Object toCel(JsonNode node) {
    if (node == null || node.isNull() || node.isMissingNode()) {
      return com.google.protobuf.NullValue.NULL_VALUE;
    }
    if (node.isIntegralNumber()) {
      return node.longValue();
    }
    if (node.isNumber()) {
      return node.doubleValue();
    }
    if (node.isBoolean()) {
      return node.booleanValue();
    }
    if (node.isTextual()) {
      return node.textValue();
    }
    if (node.isArray()) {
      List<Object> out = new ArrayList<>(node.size());
      node.forEach(e -> out.add(toCel(e)));
      return out;
    }
    Map<String, Object> out = new HashMap<>();
    node.fields().forEachRemaining(f -> out.put(f.getKey(), toCel(f.getValue())));
    return out;
  }

  static Map<String, Object> toCel(Map<String, JsonNode> map) {
    Map<String, Object> out = new HashMap<>();
    map.forEach((k, v) -> out.put(k, toCel(v)));
    return out;
  }

  /** CEL's result -> JSON; timestamps become ISO-8601 text, durations seconds as text ("3600s"). */
  static JsonNode toJson(Object value) {
    if (value == null || value instanceof com.google.protobuf.NullValue) {
      return NODES.nullNode();
    }
    if (value instanceof Long l) {
      // Small numbers as int nodes: the same shape JSON parsing and the journal's CBOR give back.
      return l == l.intValue() ? NODES.numberNode(l.intValue()) : NODES.numberNode(l);
    }
    if (value instanceof Integer i) {
      return NODES.numberNode(i.longValue());
    }
    if (value instanceof Double d) {
      return NODES.numberNode(d);
    }
    if (value instanceof Boolean b) {
      return NODES.booleanNode(b);
    }
    if (value instanceof String s) {
      return NODES.textNode(s);
    }
    if (value instanceof com.google.protobuf.Timestamp t) {
      return NODES.textNode(Instant.ofEpochSecond(t.getSeconds(), t.getNanos()).toString());
    }
    if (value instanceof com.google.protobuf.Duration d) {
      return NODES.textNode(Durations.toString(d));
    }
    if (value instanceof com.google.common.primitives.UnsignedLong u) {
      return NODES.numberNode(u.bigIntegerValue());
    }
    if (value instanceof com.google.protobuf.ByteString b) {
      return NODES.binaryNode(b.toByteArray());
    }
    if (value instanceof Collection<?> c) {
      ArrayNode out = NODES.arrayNode();
      c.forEach(e -> out.add(toJson(e)));
      return out;
    }
    if (value instanceof Map<?, ?> m) {
      ObjectNode out = NODES.objectNode();
      m.forEach((k, v) -> out.set(String.valueOf(k), toJson(v)));
      return out;
    }
    return NODES.textNode(String.valueOf(value));
  }

  /** The loop variables visible at some depth, for {@link #check}. */
  public static Set<String> scopeOf(List<String> loopVars) {
    return new LinkedHashSet<>(loopVars);
  }
}
