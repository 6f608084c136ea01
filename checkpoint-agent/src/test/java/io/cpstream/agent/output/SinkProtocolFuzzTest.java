package io.cpstream.agent.output;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;

/**
 * The sink's line protocol under generated hostile requests (issue 15's campaign): whatever a client sends, the
 * receiver answers with one of its four words or drops the connection, never changes the output of a VM the
 * requests do not name, and goes on serving. 10,000 tries in CI.
 */
class SinkProtocolFuzzTest {

    private static Path dir;
    private static OutputReceiver receiver;
    private static TcpOutputSink honest;

    @BeforeContainer
    static void start() throws Exception {
        dir = Files.createTempDirectory("sink-fuzz-");
        receiver = new OutputReceiver("127.0.0.1", 0, dir.resolve("out.log"));
        honest = new TcpOutputSink("127.0.0.1", receiver.port());
        honest.open("honest", 3);
        honest.write(0, List.of(new byte[] {1}, new byte[] {2}));
    }

    @AfterContainer
    static void stop() throws IOException {
        honest.close();
        receiver.close();
    }

    @Property
    void anyRequestIsAnsweredOrDroppedAndLeavesOtherVmsAlone(@ForAll("requests") String request) throws Exception {
        String answer;
        try (Socket socket = new Socket("127.0.0.1", receiver.port())) {
            socket.setSoTimeout(30_000);
            OutputStream out = socket.getOutputStream();
            try {
                out.write(request.getBytes(StandardCharsets.ISO_8859_1));
                socket.shutdownOutput();
                answer = readLine(socket.getInputStream());
            } catch (IOException dropped) {
                answer = null;
            }
        }
        if (answer != null) {
            String word = answer.split(" ", 2)[0];
            assertTrue(List.of("ok", "fenced", "gap", "denied").contains(word), answer);
        }
        // The VM no request names keeps its two records and its primary, which can go on.
        assertEquals(2, OutputLog.read(dir.resolve("out.log"), "honest").size());
    }

    private static String readLine(InputStream in) throws IOException {
        StringBuilder line = new StringBuilder();
        for (int b = in.read(); b >= 0 && b != '\n'; b = in.read()) {
            line.append((char) b);
            if (line.length() > 1024) {
                throw new AssertionError("an answer longer than 1 KiB");
            }
        }
        return line.isEmpty() ? null : line.toString();
    }

    @Provide
    Arbitrary<String> requests() {
        Arbitrary<String> vm = Arbitraries.of("web-1", "db", "", "honest2", "a/b", "x".repeat(80), "\u0000", "ünï");
        Arbitrary<String> number = Arbitraries.oneOf(Arbitraries.longs().between(-2, 5).map(String::valueOf),
                Arbitraries.of("9223372036854775807", "9223372036854775808", "-9223372036854775808", "1e3", "", "0x10",
                        "1048577", "2147483648"));
        Arbitrary<String> hex = Arbitraries.oneOf(Arbitraries.bytes().array(byte[].class).ofMaxSize(8)
                .map(java.util.HexFormat.of()::formatHex), Arbitraries.of("zz", "0", "", "0g"));
        Arbitrary<String> open = net.jqwik.api.Combinators.combine(vm, number).as((v, n) -> "open " + v + " " + n + "\n");
        Arbitrary<String> write = net.jqwik.api.Combinators.combine(vm, number, number, number, hex.list().ofMaxSize(4))
                .as((v, f, first, count, records) -> "write " + v + " " + f + " " + first + " " + count + "\n"
                        + String.join("\n", records) + (records.isEmpty() ? "" : "\n"));
        Arbitrary<String> noise = Arbitraries.strings().ofMaxLength(300);
        return Arbitraries.oneOf(open, write, noise, open.list().ofMaxSize(3).map(list -> String.join("", list)));
    }
}
