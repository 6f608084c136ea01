package io.cpstream.harness.chaos;

import io.cpstream.security.Pki;
import io.cpstream.security.PkiException;
import io.cpstream.security.Role;
import io.cpstream.security.TlsSettings;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * The certificates of one chaos trial, made for it (a throwaway CA in the trial's directory): the daemons run over
 * mutual TLS as deployed, not in plaintext. Collectors, the agent of the trial's VM, the operator and the output sink
 * each have their identity.
 */
public record ChaosPki(TlsSettings collector, TlsSettings agent, TlsSettings admin, TlsSettings sink) {

    /** A CA and the four identities in {@code dir}; the agent may protect {@code vm}. */
    public static ChaosPki issue(Path dir, String vm) throws IOException {
        try {
            Pki.Throwaway run = Pki.throwaway(dir, vm);
            Pki.issue(dir, "sink", Role.SINK, List.of(), Duration.ofDays(1));
            return new ChaosPki(run.collector(), run.agent(), run.admin(), Pki.settings(dir, "sink"));
        } catch (PkiException e) {
            throw new IOException("cannot make the trial's certificates: " + e.getMessage(), e);
        }
    }

    /** The daemon options naming {@code identity}: {@code --tls-cert C --tls-key K --tls-ca A}. */
    public static List<String> flags(TlsSettings identity) {
        return List.of("--tls-cert", identity.cert().toString(), "--tls-key", identity.key().toString(), "--tls-ca",
                identity.ca().toString());
    }
}
