package io.fleetplane.jobs.distribution.domain;

import io.fleetplane.config.ErrorCode;
import io.fleetplane.config.InvalidInputException;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The visible watermark: text with {@code {placeholder}}s filled per recipient. Checked when the
 * job is submitted so a typo fails the request, not 200 copies later.
 */
public final class WatermarkTemplate {

  public static final String DEFAULT = "{recipient.name} - {recipient.email} - {date}";
  public static final Set<String> PLACEHOLDERS =
      Set.of("recipient.name", "recipient.email", "recipient.id", "date", "job.id", "file.name");
  /** Longer text does not fit across a page at a readable size. */
  public static final int MAX_LENGTH = 200;

  private static final Pattern PLACEHOLDER = Pattern.compile("\\{([^{}]*)}");

  private WatermarkTemplate() {}

  /** @throws InvalidInputException {@code distribution.template-invalid} naming the problem */
  public static void validate(String template) {
    if (template == null || template.isBlank()) {
      throw invalid("The watermark template is empty; e.g. \"" + DEFAULT + "\".");
    }
    if (template.length() > MAX_LENGTH) {
      throw invalid("The watermark template has " + template.length() + " characters; at most "
          + MAX_LENGTH + " fit on a page.");
    }
    Matcher m = PLACEHOLDER.matcher(template);
    while (m.find()) {
      if (!PLACEHOLDERS.contains(m.group(1))) {
        throw invalid("Unknown placeholder {" + m.group(1) + "} in the watermark template; known: "
            + String.join(", ", PLACEHOLDERS.stream().sorted().map(p -> "{" + p + "}").toList()) + ".");
      }
    }
  }

  /** The template with every known placeholder replaced by its value. */
  public static String render(String template, Map<String, String> values) {
    Matcher m = PLACEHOLDER.matcher(template);
    StringBuilder out = new StringBuilder();
    while (m.find()) {
      m.appendReplacement(out, Matcher.quoteReplacement(values.getOrDefault(m.group(1), m.group())));
    }
    m.appendTail(out);
    return out.toString();
  }

  private static InvalidInputException invalid(String detail) {
    return new InvalidInputException(ErrorCode.DISTRIBUTION_TEMPLATE_INVALID, detail);
  }
}
