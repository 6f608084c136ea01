package io.cpstream.collector;

import com.google.protobuf.CodedInputStream;
import com.google.protobuf.ExtensionRegistryLite;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.MessageLite;
import com.google.protobuf.Parser;
import com.google.protobuf.UnsafeByteOperations;
import io.grpc.KnownLength;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import java.io.IOException;
import java.io.InputStream;

/**
 * Parses a request so that its bytes fields are views of the received message rather than copies of it.
 * gRPC's stock marshaller reads a message into a buffer it reuses and so has to copy every bytes field out
 * of it: for the replication stream, every page's payload a second time, as many heap bytes as the stream
 * carries. Here each message gets an array of its own and the pages point into it; the standby decodes them
 * into its image before the next message is asked for, so the array is garbage soon after.
 */
final class AliasingMarshaller<T extends MessageLite> implements MethodDescriptor.Marshaller<T> {

    private final MethodDescriptor.Marshaller<T> plain;
    private final Parser<T> parser;

    AliasingMarshaller(MethodDescriptor.Marshaller<T> plain, Parser<T> parser) {
        this.plain = plain;
        this.parser = parser;
    }

    @Override
    public InputStream stream(T value) {
        return plain.stream(value);
    }

    @Override
    public T parse(InputStream stream) {
        try {
            byte[] message = read(stream);
            // Through a ByteString, so the input counts as immutable: protobuf aliases only such input.
            CodedInputStream in = UnsafeByteOperations.unsafeWrap(message).newCodedInput();
            in.enableAliasing(true);
            T parsed = parser.parseFrom(in, ExtensionRegistryLite.getEmptyRegistry());
            in.checkLastTagWas(0);
            return parsed;
        } catch (InvalidProtocolBufferException e) {
            // The peer's fault, not the collector's (I5). gRPC would answer an exception thrown here with UNKNOWN
            // ("Application error"): null hands the garbage to the call, which answers INVALID_ARGUMENT.
            return null;
        } catch (IOException e) {
            throw Status.INTERNAL.withDescription("cannot read the message: " + e.getMessage()).withCause(e)
                    .asRuntimeException();
        }
    }

    /** The whole message, in an array of exactly its size when gRPC knows it (it does for received messages). */
    private static byte[] read(InputStream stream) throws IOException {
        if (!(stream instanceof KnownLength)) {
            return stream.readAllBytes();
        }
        byte[] message = new byte[stream.available()];
        int read = stream.readNBytes(message, 0, message.length);
        if (read != message.length || stream.read() != -1) {
            throw new IOException("the message's length changed while it was read");
        }
        return message;
    }
}
