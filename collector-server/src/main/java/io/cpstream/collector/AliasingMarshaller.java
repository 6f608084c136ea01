package io.cpstream.collector;

import com.google.protobuf.ByteString;
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
 * carries. Here the message is read into one array and the pages point into it; the standby decodes them
 * into its image before the next message is asked for. With {@link ReceiveBuffers} the array is lent and taken
 * back once the message is handled, so whoever handles such a message must not keep any of its bytes fields
 * (copy what has to outlive it); without, each message gets an array of its own.
 */
final class AliasingMarshaller<T extends MessageLite> implements MethodDescriptor.Marshaller<T> {

    private final MethodDescriptor.Marshaller<T> plain;
    private final Parser<T> parser;
    /** Null: every message gets an array of its own. */
    private final ReceiveBuffers buffers;

    AliasingMarshaller(MethodDescriptor.Marshaller<T> plain, Parser<T> parser, ReceiveBuffers buffers) {
        this.plain = plain;
        this.parser = parser;
        this.buffers = buffers;
    }

    @Override
    public InputStream stream(T value) {
        return plain.stream(value);
    }

    @Override
    public T parse(InputStream stream) {
        try {
            CodedInputStream in = read(stream).newCodedInput();
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

    /**
     * The whole message, wrapped as a ByteString (protobuf aliases only input that counts as immutable). Its length
     * is known for received messages; anything else is read to its end into an array of its own.
     */
    private ByteString read(InputStream stream) throws IOException {
        if (!(stream instanceof KnownLength)) {
            return UnsafeByteOperations.unsafeWrap(stream.readAllBytes());
        }
        int length = stream.available();
        byte[] message = buffers == null ? new byte[length] : buffers.lend(length);
        int read = stream.readNBytes(message, 0, length);
        if (read != length || stream.read() != -1) {
            throw new IOException("the message's length changed while it was read");
        }
        return UnsafeByteOperations.unsafeWrap(message, 0, length);
    }
}
