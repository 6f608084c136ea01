package io.cpstream.agent;

import com.google.protobuf.ByteString;
import io.cpstream.proto.EventLogChunk;
import io.cpstream.proto.Limit;
import io.cpstream.tracker.RecordReplay;
import io.cpstream.tracker.replay.InputEvents;
import java.util.ArrayDeque;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import java.util.function.LongConsumer;
import java.util.function.Supplier;

/**
 * Record/replay protection on the agent's side ({@code agent --protect replay}): takes the guest's logged inputs
 * and its outputs every half millisecond and (not under lockstep) as soon as the guest emits an output, streams the
 * inputs to the collector as {@link EventLogChunk}s, and once the collector acknowledges that it journaled every
 * input up to a point, makes the outputs the guest emitted before that point releasable. An output's cause is then on
 * the standby's disk after one round trip, not one epoch.
 *
 * <p>Order matters: the outputs are taken first, then the inputs and the ordinal they cover, so every output taken
 * was emitted at a port access below that ordinal. Chunks are kept until a checkpoint taken after them is
 * acknowledged (a new stream may need them again: the collector's Welcome says where its journal ends).
 *
 * <p>The chunks go on the {@link EventLogCall} beside the replication stream, so they wait neither behind page data nor
 * behind the collector's handling of a checkpoint. At most {@link #MAX_IN_FLIGHT} messages are on the wire at a time:
 * while they are, the chunks taken meanwhile wait, and go as one message once one is acknowledged. This is group
 * commit from the sender's side: however high the guest's input rate, the collector appends (and, under
 * {@code --durability fsync}, forces) its journal a bounded number of times per round trip, instead of once per
 * half-millisecond chunk (a force per chunk once queued the whole stream behind the journal). A second message in
 * flight lets an output emitted just after a message left go out at once instead of a round trip later.
 *
 * <p>Under quasi-lockstep ({@code --protect lockstep}) each message also carries the digests of the outputs taken
 * since the last ({@link OutputGate#takeDigests}), which the collector compares with those of its secondary; the
 * digests are kept until the collector says it compared them, and sent again on a new call.
 */
final class EventRecorder implements Runnable {

    private static final System.Logger LOG = System.getLogger(EventRecorder.class.getName());
    private static final long PUMP_NANOS = TimeUnit.MICROSECONDS.toNanos(500);
    /** Bytes of events per chunk taken: half a message's limit. */
    private static final int MAX_TAKEN_BYTES = Limit.MAX_CHUNK_BYTES_VALUE / 2;
    /** Messages sent and not acknowledged yet, at most. */
    static final int MAX_IN_FLIGHT = 2;
    /** Kept chunks beyond this stop the draining: the shim buffers, then stops the guest rather than lose an input. */
    private static final long MAX_RETAINED_BYTES = 32L << 20;

    /** Inputs of port accesses [from, end), and the outputs the guest had emitted when they were taken. */
    private record Chunk(long from, long end, byte[] events, long outputEnd) {
    }

    /** A message on the wire: the port access its inputs reach, and {@link System#nanoTime()} when it left. */
    private record InFlight(long end, long sentNanos) {
    }

    private final String vm;
    private final RecordReplay guest;
    private final OutputGate outputs;
    private final Supplier<EventLogCall> calls;
    /** Told each acknowledged message's round trip, in nanoseconds. */
    private final LongConsumer roundTrips;
    /** Where every input taken is also written on this host, or null. */
    private final InputCopy copy;
    private final ArrayDeque<Chunk> retained = new ArrayDeque<>();
    private final TreeMap<Long, Long> stunOrdinals = new TreeMap<>();
    private long retainedBytes;
    private long logEnd = -1;
    private long lastOutputEnd;
    private long ackedEnd;
    private long truncateBelow;
    /** The call chunks went out on, and how far; the call of a new stream starts where that stream's Welcome says. */
    private EventLogCall sentOn;
    private long sentEnd;
    /** The messages sent on {@link #sentOn} and not acknowledged yet, oldest first. */
    private final ArrayDeque<InFlight> inFlight = new ArrayDeque<>();
    private boolean restartPending;
    private EventLogCall welcomedOn;
    private long welcomedEnd;
    /** Lockstep: digests of the outputs from index {@link #digestsFrom} the collector has not compared yet. */
    private final boolean lockstep;
    private final ArrayDeque<Long> digests = new ArrayDeque<>();
    private long digestsFrom = -1;
    /** Lockstep: the digests before this index went out on {@link #sentOn}. */
    private long digestsSentEnd;
    private boolean unavailableLogged;
    private volatile boolean running = true;
    /** The thread of {@link #run}: an acknowledgement wakes it, so the next chunk leaves without waiting a pump. */
    private volatile Thread pump;

    EventRecorder(String vm, RecordReplay guest, OutputGate outputs, Supplier<EventLogCall> calls,
                  LongConsumer roundTrips, InputCopy copy, boolean lockstep) {
        this.vm = vm;
        this.lockstep = lockstep;
        this.guest = guest;
        this.outputs = outputs;
        this.calls = calls;
        this.roundTrips = roundTrips;
        this.copy = copy;
    }

    /** Before the guest runs: every input from here on is logged. */
    synchronized void begin() {
        if (lockstep) {
            outputs.lockstep();
        }
        guest.record(true);
        logEnd = guest.portOrdinal();
    }

    /** Inside the stun of {@code epoch}: the port access the checkpoint is taken at. */
    synchronized void stunned(long epoch) {
        stunOrdinals.put(epoch, guest.portOrdinal());
    }

    /** The collector committed {@code epoch}: inputs before its stun are no longer needed by anyone. */
    synchronized void checkpointAcked(long epoch) {
        Map.Entry<Long, Long> at = stunOrdinals.floorEntry(epoch);
        if (at == null) {
            return;
        }
        truncateBelow = Math.max(truncateBelow, at.getValue());
        stunOrdinals.headMap(epoch, true).clear();
        while (!retained.isEmpty() && retained.peekFirst().end() <= truncateBelow && retained.peekFirst().end() <= ackedEnd) {
            retainedBytes -= retained.removeFirst().events().length;
        }
    }

    /**
     * A stream was attached, with {@code call} beside it; the collector's journal covers port accesses below
     * {@code journalEnd} (0: nothing).
     */
    synchronized void welcomed(EventLogCall call, long journalEnd) {
        welcomedOn = call;
        welcomedEnd = journalEnd;
    }

    /** The call can take a message again (it could not when the last one was offered). */
    void wake() {
        Thread waiting = pump;
        if (waiting != null) {
            LockSupport.unpark(waiting);
        }
        try {
            guest.wakeOutputWaiter();
        } catch (IllegalStateException closed) {
            // the guest is gone: nothing waits for its outputs
        }
    }

    /** The collector journaled every input below {@code end}: the outputs taken with them may go. */
    synchronized void acked(long end) {
        ackedEnd = Math.max(ackedEnd, end);
        boolean freed = false;
        while (!inFlight.isEmpty() && inFlight.peekFirst().end() <= end) {
            roundTrips.accept(System.nanoTime() - inFlight.removeFirst().sentNanos());
            freed = true;
        }
        if (freed) {
            wake();
        }
        long releasable = -1;
        for (Chunk chunk : retained) {
            if (chunk.end() > ackedEnd) {
                break;
            }
            releasable = chunk.outputEnd();
        }
        if (releasable >= 0) {
            outputs.logAcknowledged(releasable);
        }
    }

    /**
     * Lockstep: the collector's secondary matched the primary's outputs below {@code end} (or resynchronized past
     * them); {@code unavailable} non-empty: that collector runs no secondary, and says why.
     */
    synchronized void compared(long end, String unavailable) {
        if (!lockstep) {
            return;
        }
        boolean available = unavailable.isEmpty();
        if (!available && !unavailableLogged) {
            LOG.log(System.Logger.Level.WARNING, "vm {0}: the collector runs no lockstep secondary ({1}); outputs are "
                    + "released as under record/replay protection until one does", vm, unavailable);
        }
        unavailableLogged = !available;
        outputs.compared(end, available);
        while (!digests.isEmpty() && digestsFrom < end) {
            digests.removeFirst();
            digestsFrom++;
        }
        if (digests.isEmpty() && digestsFrom < end) {
            digestsFrom = end;
        }
    }

    void stop() {
        running = false;
    }

    /** Inputs of every port access below this are journaled by the collector (acknowledged). */
    synchronized long acknowledgedEnd() {
        return ackedEnd;
    }

    @Override
    public void run() {
        pump = Thread.currentThread();
        long outputsSeen = 0;
        while (running) {
            try {
                take();
                send();
                if (lockstep) {
                    // Measured: woken by each output, lockstep's release p99 rose from 1.4-1.9 to 2.7-2.8 ms
                    // (bench --compare-protect) while its median fell; the cause is not found, so it keeps the period.
                    LockSupport.parkNanos(PUMP_NANOS);
                } else {
                    // Until the next output, an acknowledgement, or the pump's period: an output leaves as soon as
                    // the guest emits it instead of up to a period later (its input is logged before it, so it goes
                    // too). Replay's release p99 fell from 2.5 to 1.1-1.3 ms (bench --compare-protect).
                    outputsSeen = guest.awaitOutput(outputsSeen, PUMP_NANOS);
                }
            } catch (RuntimeException e) {
                if (!running) {
                    return;
                }
                LOG.log(System.Logger.Level.ERROR, "vm {0}: recording inputs failed: {1}", vm, e.getMessage());
                LockSupport.parkNanos(PUMP_NANOS);
            }
        }
    }

    /** Takes the outputs, then the inputs they follow. */
    private void take() {
        synchronized (this) {
            if (retainedBytes > MAX_RETAINED_BYTES) {
                return;
            }
        }
        long outputEnd = outputs.capture();
        RecordReplay.Drained drained = guest.drainEvents(MAX_TAKEN_BYTES);
        Chunk taken;
        synchronized (this) {
            if (lockstep) {
                keepDigests(outputs.takeDigests());
            }
            if (drained.events().length == 0 && outputEnd == lastOutputEnd
                    && !(drained.coveredTo() > logEnd && guest.waitingForInput())) {
                return; // nothing waits on this stretch: it joins the next chunk
            }
            // Else: inputs, outputs, or a guest gone idle in its input poll. The last brings the journal to where the
            // guest waits, once: a promotion then resumes it in that poll, as the primary is, not inside the access
            // before (the tail of an output, taken before the guest left it).
            taken = new Chunk(logEnd, drained.coveredTo(), drained.events(), outputEnd);
            retained.addLast(taken);
            retainedBytes += drained.events().length;
            logEnd = drained.coveredTo();
            lastOutputEnd = outputEnd;
        }
        if (copy != null) {
            copy.append(taken.from(), taken.end(), taken.events());
        }
    }

    private void keepDigests(OutputGate.Digests taken) {
        if (taken.digests().length == 0) {
            return;
        }
        if (digestsFrom < 0 || digests.isEmpty()) {
            digestsFrom = taken.from();
        }
        for (long digest : taken.digests()) {
            digests.addLast(digest);
        }
    }

    /**
     * Sends what the current call has not had, starting where its collector's journal ends, while fewer than
     * {@link #MAX_IN_FLIGHT} messages await their acknowledgement. (A call that ended makes the link start over on a new
     * stream, whose Welcome says where to go on from.)
     */
    private synchronized void send() {
        EventLogCall call = calls.get();
        if (call == null) {
            return;
        }
        if (call != sentOn) {
            if (call != welcomedOn) {
                return; // its stream's Welcome is not handled yet
            }
            sentOn = call;
            sentEnd = welcomedEnd;
            digestsSentEnd = digestsFrom; // a new collector, or one that may have lost them: all again
            inFlight.clear();
            restartPending = welcomedEnd == 0 || welcomedEnd > logEnd;
        }
        if (inFlight.size() >= MAX_IN_FLIGHT) {
            return;
        }
        Pending next = pending();
        if (next != null && call.offer(next.chunk())) {
            restartPending = false;
            sentEnd = next.end();
            digestsSentEnd = next.digestsEnd();
            inFlight.addLast(new InFlight(next.end(), System.nanoTime()));
        }
    }

    /** One message's chunk, the port access it covers the inputs to, and the output its digests reach. */
    private record Pending(EventLogChunk.Builder chunk, long end, long digestsEnd) {
    }

    /**
     * The chunks after {@code sentEnd}, as one message of at most {@link Limit#MAX_CHUNK_BYTES}, or null. The first
     * restarts the collector's log where its journal cannot be continued: it holds nothing, or ends where this agent no
     * longer has the inputs (a gap), or past this agent's log.
     */
    private Pending pending() {
        ByteString events = ByteString.EMPTY;
        long first = -1;
        long end = sentEnd;
        boolean restartFirst = false;
        for (Chunk chunk : retained) {
            boolean restart = (first < 0 && restartPending) || chunk.from() > end;
            if (!restart && chunk.end() <= end) {
                continue;
            }
            if (first >= 0 && (restart || events.size() + chunk.events().length > Limit.MAX_CHUNK_BYTES_VALUE)) {
                break; // a restart starts a message of its own; the rest goes in the next
            }
            long from = restart ? chunk.from() : Math.max(chunk.from(), end);
            byte[] taken = from > chunk.from() ? InputEvents.from(chunk.events(), from) : chunk.events();
            if (first < 0) {
                first = from;
                restartFirst = restart;
            }
            events = events.concat(ByteString.copyFrom(taken));
            end = chunk.end();
        }
        if (first < 0) {
            if (!lockstep || restartPending || Math.max(digestsSentEnd, digestsFrom) >= digestsFrom + digests.size()) {
                return null;
            }
            first = end; // digests alone (more than one message takes, or taken without inputs): an empty chunk
        }
        EventLogChunk.Builder chunk = EventLogChunk.newBuilder().setFrom(first).setEnd(end).setEvents(events)
                .setRestart(restartFirst).setTruncateBelow(truncateBelow);
        long digestsEnd = digestsSentEnd;
        if (lockstep) {
            chunk.setLockstep(true);
            long from = Math.max(digestsSentEnd, digestsFrom);
            if (from >= 0) {
                chunk.setOutputFrom(from);
                long index = digestsFrom;
                for (long digest : digests) {
                    if (index >= from && chunk.getOutputDigestsCount() < Limit.MAX_OUTPUT_DIGESTS_VALUE) {
                        chunk.addOutputDigests(digest);
                    }
                    index++;
                }
                digestsEnd = from + chunk.getOutputDigestsCount();
            }
        }
        return new Pending(chunk, end, digestsEnd);
    }
}
