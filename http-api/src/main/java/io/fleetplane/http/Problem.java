package io.fleetplane.http;

import akka.http.javadsl.model.ContentType;
import akka.http.javadsl.model.ContentTypes;
import akka.http.javadsl.model.HttpCharsets;
import akka.http.javadsl.model.HttpResponse;
import akka.http.javadsl.model.MediaTypes;
import akka.http.javadsl.model.StatusCode;
import akka.http.javadsl.model.StatusCodes;
import akka.http.javadsl.model.headers.RetryAfter;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.fleetplane.config.ErrorCode;
import io.fleetplane.config.metrics.Metrics;
import java.util.Map;

/**
 * An RFC 9457 problem document ({@code application/problem+json}) with our stable {@code code}.
 * Every error the API returns is one of these, so clients branch on {@code code}, never on text.
 *
 * @param type a URI naming the problem kind ({@code urn:fleetplane:problem:<code>})
 * @param title short, status-level summary
 * @param status the HTTP status code, repeated for clients that only see the body
 * @param code the stable dotted error code
 * @param detail what went wrong and what to do next, for a human
 * @param field the offending request field for validation errors, else absent
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record Problem(String type, String title, int status, String code, String detail, String field) {

  public static final ContentType PROBLEM_JSON = ContentTypes.create(
      MediaTypes.applicationWithFixedCharset("problem+json", HttpCharsets.UTF_8));

  private static final ObjectMapper MAPPER = new ObjectMapper();

  public static Problem of(StatusCode status, ErrorCode code, String detail) {
    return of(status, code, detail, null);
  }

  public static Problem of(StatusCode status, ErrorCode code, String detail, String field) {
    return new Problem("urn:fleetplane:problem:" + code.code(), status.reason(), status.intValue(),
        code.code(), detail, field);
  }

  /** Problems answered, tagged {@code code} and {@code status}: bad input and denied access show here. */
  public static final String METRIC = "fleetplane_http_problems";

  public HttpResponse toResponse() {
    Metrics.increment(METRIC, Map.of("code", code, "status", Integer.toString(status)));
    HttpResponse response = HttpResponse.create()
        .withStatus(StatusCodes.get(status))
        .withEntity(PROBLEM_JSON, toJson());
    if (status == 503 || status == 429) {
      response = response.addHeader(RetryAfter.create(1L));
    }
    return response;
  }

  public byte[] toJson() {
    try {
      return MAPPER.writeValueAsBytes(this);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("problem documents are always serializable", e);
    }
  }

  /** Thrown inside routes to answer with a problem; the exception handler renders it. */
  public static final class ProblemException extends RuntimeException {
    private final Problem problem;

    public ProblemException(Problem problem) {
      super(problem.code() + ": " + problem.detail(), null, false, false);
      this.problem = problem;
    }

    public Problem problem() {
      return problem;
    }
  }
}
