package io.fleetplane.http;

import akka.http.javadsl.model.HttpEntity;
import akka.http.javadsl.model.MediaTypes;
import akka.http.javadsl.model.StatusCodes;
import akka.http.javadsl.server.AllDirectives;
import akka.http.javadsl.server.Route;
import akka.http.scaladsl.model.EntityStreamSizeException;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.ObjectReader;
import com.fasterxml.jackson.databind.exc.MismatchedInputException;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import io.fleetplane.config.ErrorCode;
import java.util.concurrent.CompletionException;
import java.util.function.Function;
import java.util.stream.Collectors;

/**
 * Reads a request's JSON body into a DTO, or answers the precise problem: 415 when it is not
 * JSON, 413 {@code payload.too-large} above the limit, 400 {@code request.json-malformed} for
 * broken JSON (with line and column), 400 {@code request.invalid} with the offending {@code field}
 * (a dotted path such as {@code target.port}) for a wrong type, an unknown field or a missing
 * value. Use it for every route that takes a body:
 *
 * <pre>{@code post(() -> auth.authorize(Scope.JOBS_WRITE, caller -> body.as(StartJobRequest.class, request -> ...)))}</pre>
 *
 * Unknown fields are errors on purpose: a misspelt optional field silently ignored is a request
 * that did something other than what its author meant.
 */
public final class JsonBody extends AllDirectives {

  /** Oversized bodies up to this are read and dropped before the 413 (see {@link #as}); larger ones are cut off. */
  private static final long DRAIN_LIMIT_BYTES = 8L * 1024 * 1024;

  private final long maxBytes;
  private final long readTimeoutMillis;

  public JsonBody(long maxBytes, long readTimeoutMillis) {
    this.maxBytes = maxBytes;
    this.readTimeoutMillis = readTimeoutMillis;
  }

  /** With {@code fleetplane.node.http.max-body-bytes} and the ask timeout as the read timeout. */
  public static JsonBody fromConfig(com.typesafe.config.Config config) {
    return new JsonBody(config.getBytes("fleetplane.node.http.max-body-bytes"),
        config.getDuration("fleetplane.node.http.ask-timeout").toMillis());
  }

  public <T> Route as(Class<T> type, Function<T, Route> inner) {
    ObjectReader reader = reader(type);
    return extractRequestEntity(entity -> {
      if (!entity.getContentType().mediaType().equals(MediaTypes.APPLICATION_JSON)) {
        return complete(Problem.of(StatusCodes.UNSUPPORTED_MEDIA_TYPE, ErrorCode.REQUEST_UNSUPPORTED_MEDIA_TYPE,
            "Send the body as JSON with 'Content-Type: application/json' (got '" + entity.getContentType() + "').")
            .toResponse());
      }
      if (entity.getContentLengthOption().isPresent() && entity.getContentLengthOption().getAsLong() > maxBytes) {
        long declared = entity.getContentLengthOption().getAsLong();
        if (declared > DRAIN_LIMIT_BYTES) {
          return complete(tooLarge());
        }
        // Answering before the client has finished sending makes the server close the connection
        // under it, and many clients then report a reset instead of our 413: read and drop a
        // moderately oversized body first, so the client sees the problem document.
        return extractMaterializer(materializer -> onComplete(entity.discardBytes(materializer).completionStage(),
            drained -> complete(tooLarge())));
      }
      // withoutSizeLimit: our own limit below applies; the server-wide one may be larger or smaller.
      return extractMaterializer(materializer -> onComplete(
          entity.withoutSizeLimit().toStrict(readTimeoutMillis, maxBytes, materializer), strict -> {
            if (strict.isFailure()) {
              Throwable cause = unwrap(strict.failed().get());
              if (cause instanceof EntityStreamSizeException) {
                return complete(tooLarge());
              }
              throw new Problem.ProblemException(Problem.of(StatusCodes.BAD_REQUEST, ErrorCode.REQUEST_INVALID,
                  "The request body could not be read completely; send it again."));
            }
            return inner.apply(parse(reader, strict.get().getData().toArray()));
          }));
    });
  }

  /**
   * JSON already read from somewhere other than the request body (a multipart part): the same
   * size limit (413) and the same {@code request.*} problems as {@link #as}.
   */
  public <T> T parse(Class<T> type, byte[] bytes) {
    if (bytes.length > maxBytes) {
      throw new Problem.ProblemException(Problem.of(StatusCodes.PAYLOAD_TOO_LARGE, ErrorCode.PAYLOAD_TOO_LARGE,
          "The JSON is larger than " + maxBytes + " bytes; send less."));
    }
    return parse(reader(type), bytes);
  }

  private static ObjectReader reader(Class<?> type) {
    return Json.MAPPER.readerFor(type)
        .with(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
        .with(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
        .with(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
  }

  private <T> T parse(ObjectReader reader, byte[] bytes) {
    try {
      T value = reader.readValue(bytes);
      if (value == null) {
        throw new Problem.ProblemException(Problem.of(StatusCodes.BAD_REQUEST, ErrorCode.REQUEST_JSON_MALFORMED,
            "The body is JSON null; send a JSON object."));
      }
      return value;
    } catch (UnrecognizedPropertyException e) {
      String field = path(e);
      throw new Problem.ProblemException(Problem.of(StatusCodes.BAD_REQUEST, ErrorCode.REQUEST_INVALID,
          "Unknown field '" + DeviceQueryParameters.printable(field) + "'. Known fields here: "
              + e.getKnownPropertyIds().stream().map(String::valueOf).sorted().collect(Collectors.joining(", ")) + ".",
          field));
    } catch (MismatchedInputException e) {
      String field = path(e);
      if (field.isEmpty()) {
        throw new Problem.ProblemException(Problem.of(StatusCodes.BAD_REQUEST, ErrorCode.REQUEST_JSON_MALFORMED,
            bytes.length == 0 ? "The body is empty; send a JSON object." : "The body must be a JSON object."));
      }
      throw new Problem.ProblemException(Problem.of(StatusCodes.BAD_REQUEST, ErrorCode.REQUEST_INVALID,
          "Field '" + DeviceQueryParameters.printable(field) + "' has the wrong type or is missing: expected "
              + expected(e) + ".", field));
    } catch (JsonMappingException e) {
      // A DTO's own validation (an IllegalArgumentException in its constructor) arrives wrapped.
      String field = path(e);
      Throwable cause = e.getCause() != null ? e.getCause() : e;
      throw new Problem.ProblemException(Problem.of(StatusCodes.BAD_REQUEST, ErrorCode.REQUEST_INVALID,
          DeviceQueryParameters.printable(cause.getMessage() == null ? "invalid value" : cause.getMessage()),
          field.isEmpty() ? null : field));
    } catch (JsonProcessingException e) {
      var location = e.getLocation();
      throw new Problem.ProblemException(Problem.of(StatusCodes.BAD_REQUEST, ErrorCode.REQUEST_JSON_MALFORMED,
          "The body is not valid JSON" + (location == null ? "" : " (line " + location.getLineNr() + ", column "
              + location.getColumnNr() + ")") + ". Send a JSON object."));
    } catch (java.io.IOException e) {
      throw new Problem.ProblemException(Problem.of(StatusCodes.BAD_REQUEST, ErrorCode.REQUEST_JSON_MALFORMED,
          "The body could not be read as JSON."));
    }
  }

  private static String expected(MismatchedInputException e) {
    Class<?> target = e.getTargetType();
    if (target == null) {
      return "a value of the documented type";
    }
    if (Number.class.isAssignableFrom(target) || (target.isPrimitive() && target != boolean.class)) {
      return "a number";
    }
    if (target == Boolean.class || target == boolean.class) {
      return "true or false";
    }
    if (target == String.class) {
      return "a string";
    }
    if (java.util.Collection.class.isAssignableFrom(target) || target.isArray()) {
      return "an array";
    }
    return "an object";
  }

  /** The JSON path of the failing value, dotted ({@code targets[2].port} reads {@code targets.2.port}). */
  private static String path(JsonMappingException e) {
    return e.getPath().stream()
        .map(ref -> ref.getFieldName() != null ? ref.getFieldName() : Integer.toString(ref.getIndex()))
        .collect(Collectors.joining("."));
  }

  private akka.http.javadsl.model.HttpResponse tooLarge() {
    return Problem.of(StatusCodes.PAYLOAD_TOO_LARGE, ErrorCode.PAYLOAD_TOO_LARGE,
        "The body is larger than " + maxBytes + " bytes; send less.").toResponse();
  }

  private static Throwable unwrap(Throwable t) {
    Throwable current = t;
    while ((current instanceof CompletionException || current instanceof java.util.concurrent.ExecutionException)
        && current.getCause() != null) {
      current = current.getCause();
    }
    return current;
  }
}
