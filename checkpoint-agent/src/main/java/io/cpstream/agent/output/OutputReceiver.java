package io.cpstream.agent.output;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The far end of {@code tcp://} output sinks: accepts released output from any number of primaries
 * and keeps it in an {@link OutputLog}, enforcing order and fencing. What {@code cpstream sink} runs,
 * and what the failover tests release into.
 *
 * <p>Protocol, one ASCII line per request and answer:
 * <pre>
 *   open VM FENCING                         ->  ok NEXT | fenced REASON
 *   write VM FENCING FIRST COUNT + COUNT hex lines  ->  ok NEXT | fenced REASON | gap EXPECTED
 * </pre>
 * NEXT is the index the receiver expects next, -1 if it has none of this VM's output yet.
 */
public final class OutputReceiver implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger(OutputReceiver.class.getName());
    private static final int MAX_RECORDS_PER_WRITE = 1 << 20;

    private final OutputLog log;
    private final ServerSocket server;
    private final List<Socket> clients = new ArrayList<>();
    private final AtomicLong duplicateAttempts = new AtomicLong();
    private final AtomicLong gapAttempts = new AtomicLong();
    private final AtomicLong fencedAttempts = new AtomicLong();
    private final AtomicLong fencedWrites = new AtomicLong();
    private final AtomicLong accepted = new AtomicLong();
    private volatile boolean closed;

    public OutputReceiver(String host, int port, Path file) throws IOException {
        this.log = new OutputLog(file);
        this.server = new ServerSocket();
        server.setReuseAddress(true);
        server.bind(new InetSocketAddress(host, port));
        Thread.ofPlatform().daemon().name("output-receiver").start(this::acceptLoop);
    }

    public int port() {
        return server.getLocalPort();
    }

    public Path file() {
        return log.file();
    }

    /** Records accepted so far, of every VM. */
    public long acceptedRecords() {
        return accepted.get();
    }

    /** Writes refused because they repeated records the receiver already held. */
    public long duplicateAttempts() {
        return duplicateAttempts.get();
    }

    /** Writes refused because they skipped records the receiver never got. */
    public long gapAttempts() {
        return gapAttempts.get();
    }

    /** Requests refused because a primary of a higher fencing epoch had taken over. */
    public long fencedAttempts() {
        return fencedAttempts.get();
    }

    /**
     * Writes refused because a primary of a higher fencing epoch had taken over: each one a primary that still
     * believed it was the primary while another was (an old one only opening the sink is not releasing).
     */
    public long fencedWrites() {
        return fencedWrites.get();
    }

    private void acceptLoop() {
        while (!closed) {
            try {
                Socket client = server.accept();
                synchronized (clients) {
                    clients.add(client);
                }
                Thread.ofPlatform().daemon().name("output-receiver-client").start(() -> serve(client));
            } catch (IOException e) {
                if (!closed) {
                    LOG.log(System.Logger.Level.WARNING, "output receiver: accept failed: " + e.getMessage());
                }
            }
        }
    }

    private void serve(Socket client) {
        try (client;
             BufferedReader in = new BufferedReader(new InputStreamReader(client.getInputStream(), StandardCharsets.US_ASCII))) {
            OutputStream out = client.getOutputStream();
            String line;
            while ((line = in.readLine()) != null) {
                out.write((answer(line, in) + "\n").getBytes(StandardCharsets.US_ASCII));
                out.flush();
            }
        } catch (SocketException e) {
            // the primary went away (or was killed): nothing to answer
        } catch (IOException | RuntimeException e) {
            if (!closed) {
                LOG.log(System.Logger.Level.WARNING, "output receiver: dropping a client: " + e);
            }
        } finally {
            synchronized (clients) {
                clients.remove(client);
            }
        }
    }

    private String answer(String request, BufferedReader in) throws IOException {
        String[] fields = request.split(" ");
        try {
            if (fields.length == 3 && fields[0].equals("open")) {
                return "ok " + log.open(fields[1], Long.parseLong(fields[2]));
            }
            if (fields.length == 5 && fields[0].equals("write")) {
                String vm = fields[1];
                long fencing = Long.parseLong(fields[2]);
                long first = Long.parseLong(fields[3]);
                int count = Integer.parseInt(fields[4]);
                if (count < 0 || count > MAX_RECORDS_PER_WRITE) {
                    throw new IOException("a write of " + count + " records");
                }
                List<byte[]> records = new ArrayList<>(count);
                HexFormat hex = HexFormat.of();
                for (int i = 0; i < count; i++) {
                    String record = in.readLine();
                    if (record == null) {
                        throw new IOException("the write ended after " + i + " of " + count + " records");
                    }
                    records.add(hex.parseHex(record));
                }
                log.write(vm, fencing, first, records);
                accepted.addAndGet(count);
                return "ok " + (first + count);
            }
            throw new IOException("unknown request '" + request + "'");
        } catch (OutputSink.FencedException e) {
            fencedAttempts.incrementAndGet();
            if (fields[0].equals("write")) {
                fencedWrites.incrementAndGet();
            }
            return "fenced " + e.getMessage();
        } catch (OutputSink.OutputGapException e) {
            long first = Long.parseLong(fields[3]);
            (first < e.expected() ? duplicateAttempts : gapAttempts).incrementAndGet();
            return "gap " + e.expected();
        } catch (NumberFormatException e) {
            throw new IOException("malformed request '" + request + "'", e);
        }
    }

    @Override
    public void close() throws IOException {
        closed = true;
        server.close();
        synchronized (clients) {
            for (Socket client : clients) {
                client.close();
            }
        }
        log.close();
    }
}
