package io.cpstream.harness.attack;

import io.cpstream.security.Pki;
import io.cpstream.security.PkiException;
import io.cpstream.security.Role;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * An attacker on the collector's network, running some {@link Attack}s until closed. It holds what an attacker
 * inside the deployment could hold: an agent certificate of the deployment's CA naming VMs other than the victims'
 * ({@code intruder-*}), and a reader's certificate; and it can always connect without one.
 */
public final class Attacker implements AutoCloseable {

    /** Stalled connections of each slowloris kind (three kinds): with the honest agents', well under the limit. */
    public static final int SLOWLORIS_CONNECTIONS_PER_KIND = 64;

    private final Set<Attack> attacks;
    private final Slowloris slowloris;
    private final HelloFlood flood;

    private Attacker(Set<Attack> attacks, Slowloris slowloris, HelloFlood flood) {
        this.attacks = attacks;
        this.slowloris = slowloris;
        this.flood = flood;
    }

    /**
     * Issues the attacker's certificates from the CA in {@code pki} (a throwaway CA of the run) and starts
     * {@code attacks} against {@code target}; the Hello flood names {@code victims}.
     */
    public static Attacker start(Set<Attack> attacks, InetSocketAddress target, Path pki, List<String> victims)
            throws IOException, PkiException {
        Duration day = Duration.ofDays(1);
        Pki.issue(pki, "intruder", Role.AGENT, List.of("intruder-*"), day);
        Pki.issue(pki, "viewer", Role.READER, List.of(), day);
        Slowloris slowloris = null;
        HelloFlood flood = null;
        try {
            if (attacks.contains(Attack.SLOWLORIS)) {
                slowloris = new Slowloris(target, Pki.settings(pki, "intruder"), SLOWLORIS_CONNECTIONS_PER_KIND);
            }
            if (attacks.contains(Attack.HELLO_FLOOD)) {
                flood = new HelloFlood(target, victims, Pki.settings(pki, "intruder"), Pki.settings(pki, "viewer"));
            }
        } catch (PkiException | RuntimeException e) {
            if (slowloris != null) {
                try {
                    slowloris.close();
                } catch (InterruptedException interrupted) {
                    Thread.currentThread().interrupt();
                }
            }
            throw e;
        }
        return new Attacker(attacks, slowloris, flood);
    }

    /**
     * Waits until every kind of every attack has made its first attempt (a stalled connection held, a Hello
     * answered), at most {@code patience}: on a busy machine 64 TLS handshakes take a while. True if it has.
     */
    public boolean awaitUnderWay(Duration patience) throws InterruptedException {
        long deadline = System.nanoTime() + patience.toNanos();
        while (!((slowloris == null || slowloris.underWay()) && (flood == null || flood.underWay()))) {
            if (System.nanoTime() > deadline) {
                return false;
            }
            Thread.sleep(100);
        }
        return true;
    }

    /** Welcomes (or answers) any attacker got: 0 unless the trust boundary failed. */
    public long breaches() {
        return flood == null ? 0 : flood.accepted();
    }

    /** What each attack did, by kind and outcome. */
    public Map<String, Object> figures() {
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("attacks", attacks.stream().map(Attack::label).toList());
        if (slowloris != null) {
            result.put("slowloris", slowloris.figures());
        }
        if (flood != null) {
            result.put("hello_flood", flood.figures());
        }
        result.put("breaches", breaches());
        return result;
    }

    @Override
    public void close() throws InterruptedException {
        try {
            if (flood != null) {
                flood.close();
            }
        } finally {
            if (slowloris != null) {
                slowloris.close();
            }
        }
    }
}
