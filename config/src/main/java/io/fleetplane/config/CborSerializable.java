package io.fleetplane.config;

/**
 * Marker for every message and event that crosses a serialization boundary (the journal, the
 * cluster). Bound to Akka's {@code jackson-cbor} serializer in this module's reference.conf.
 *
 * <p>Akka 2.8 ships no such marker of its own (it arrived in 2.9), so ours lives here, in the one
 * module every other module depends on. Implementations are records; the build compiles with
 * {@code -parameters} so Jackson can bind record components without annotations.
 */
public interface CborSerializable {}
