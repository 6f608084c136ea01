package io.cpstream.security;

import java.nio.file.Path;

/**
 * How one daemon or client secures its channels: mutual TLS with its certificate, key and the CA it trusts
 * ({@code --tls-cert/--tls-key/--tls-ca}), or plaintext, which must be asked for ({@code --insecure}).
 */
public record TlsSettings(Path cert, Path key, Path ca, boolean insecure) {

    private static final System.Logger LOG = System.getLogger(TlsSettings.class.getName());

    /** Plaintext: every peer may do everything. For tests, demos and a trusted loopback only. */
    public static final TlsSettings INSECURE = new TlsSettings(null, null, null, true);

    public TlsSettings {
        if (insecure && (cert != null || key != null || ca != null)) {
            throw new IllegalArgumentException("--insecure and --tls-cert/--tls-key/--tls-ca exclude each other");
        }
        if (!insecure && (cert == null || key == null || ca == null)) {
            throw new IllegalArgumentException("TLS needs all of --tls-cert, --tls-key and --tls-ca (or --insecure "
                    + "for plaintext, which lets anyone on the network act)");
        }
    }

    public static TlsSettings files(Path cert, Path key, Path ca) {
        return new TlsSettings(cert, key, ca, false);
    }

    /**
     * The settings the options say: all three files, or {@code insecure}; an IllegalArgumentException that says what
     * is missing otherwise.
     */
    public static TlsSettings of(Path cert, Path key, Path ca, boolean insecure) {
        if (insecure) {
            return new TlsSettings(null, null, null, true);
        }
        return new TlsSettings(cert, key, ca, false);
    }

    /** Logs the warning plaintext deserves, once per start of {@code what}. */
    public void warnIfInsecure(String what) {
        if (insecure) {
            LOG.log(System.Logger.Level.WARNING, "{0}: --insecure: plaintext, no authentication; anyone who reaches "
                    + "it can act on every VM. Use --tls-cert/--tls-key/--tls-ca (cpstream pki) outside tests", what);
        }
    }

    @Override
    public String toString() {
        return insecure ? "insecure (plaintext)" : "mutual TLS (" + cert + ")";
    }
}
