package io.cpstream.cli;

import io.cpstream.security.TlsSettings;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/**
 * {@code --tls-cert/--tls-key/--tls-ca/--insecure} of the client commands (status, promote, run, sink), as a picocli
 * mixin; the daemons declare the same options as settings keys (config file too). Either all three files or
 * {@code --insecure}: plaintext is never the silent default.
 */
final class TlsOptions {

    @Option(names = "--tls-cert", paramLabel = "FILE", description = "PEM certificate of this identity (cpstream pki issue)")
    Path cert;

    @Option(names = "--tls-key", paramLabel = "FILE", description = "PEM private key of --tls-cert")
    Path key;

    @Option(names = "--tls-ca", paramLabel = "FILE", description = "PEM CA certificate the peer must be issued by")
    Path ca;

    @Option(names = "--insecure", description = "Plaintext, no authentication (only for a collector or sink run with --insecure)")
    boolean insecure;

    TlsSettings settings() {
        return settings(cert, key, ca, insecure);
    }

    /** The settings, or a UserError that says what to give. */
    static TlsSettings settings(Path cert, Path key, Path ca, boolean insecure) {
        if (!insecure && cert == null && key == null && ca == null) {
            throw new Errors.UserError("give --tls-cert, --tls-key and --tls-ca (see 'cpstream pki'), or --insecure for "
                    + "plaintext without authentication");
        }
        try {
            return TlsSettings.of(cert, key, ca, insecure);
        } catch (IllegalArgumentException e) {
            throw new Errors.UserError(e.getMessage());
        }
    }
}
