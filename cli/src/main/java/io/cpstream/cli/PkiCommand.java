package io.cpstream.cli;

import io.cpstream.security.Pki;
import io.cpstream.security.PkiException;
import io.cpstream.security.Role;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code cpstream pki}: the deployment's certificate authority and the identities it issues. */
@Command(name = "pki", mixinStandardHelpOptions = true,
        description = "Certificates for mutual TLS: a CA (init) and identities with a role and the VMs they may protect (issue).",
        subcommands = {PkiCommand.Init.class, PkiCommand.Issue.class})
final class PkiCommand implements Runnable {

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    @Command(name = "init", mixinStandardHelpOptions = true,
            description = "Make a CA: DIR/ca.crt (give it to every daemon as --tls-ca) and DIR/ca.key (keep it offline).")
    static final class Init implements Callable<Integer> {

        @Option(names = "--dir", required = true, description = "Directory for the CA (created 0700)")
        Path dir;

        @Option(names = "--days", defaultValue = "3650", description = "Validity of the CA (default: ${DEFAULT-VALUE})")
        long days;

        @Option(names = "--json", description = "Print one JSON object")
        boolean json;

        @Override
        public Integer call() throws Exception {
            Path cert = run(() -> Pki.init(dir, Duration.ofDays(days)));
            if (json) {
                Map<String, Object> result = new LinkedHashMap<>();
                result.put("ca_cert", cert.toAbsolutePath().toString());
                result.put("ca_key", dir.resolve(Pki.CA_KEY).toAbsolutePath().toString());
                Json.print(System.out, result);
            } else {
                System.out.printf("CA written: %s (key %s, 0600)%n", cert, dir.resolve(Pki.CA_KEY));
            }
            return 0;
        }
    }

    @Command(name = "issue", mixinStandardHelpOptions = true,
            description = "Issue DIR/NAME.crt and DIR/NAME.key signed by the CA in DIR. Issuing a name again rotates it: "
                    + "running daemons take the new files at their next handshake.")
    static final class Issue implements Callable<Integer> {

        @Option(names = "--dir", required = true, description = "Directory of the CA (pki init)")
        Path dir;

        @Option(names = "--name", required = true, description = "Name of the identity (its CN and file names)")
        String name;

        @Option(names = "--role", required = true, description = "collector, sink, agent, admin or reader")
        String role;

        @Option(names = "--vm", description = "A VM this agent may protect; '*' matches any run of characters "
                + "(web-*); repeat for several. Agents only, at least one")
        List<String> vms = new ArrayList<>();

        @Option(names = "--days", defaultValue = "365", description = "Validity (default: ${DEFAULT-VALUE})")
        long days;

        @Option(names = "--json", description = "Print one JSON object")
        boolean json;

        @Override
        public Integer call() throws Exception {
            Role parsed = Role.parse(role);
            Pki.Issued issued = run(() -> Pki.issue(dir, name, parsed, vms, Duration.ofDays(days)));
            if (json) {
                Map<String, Object> result = new LinkedHashMap<>();
                result.put("cert", issued.certificate().toAbsolutePath().toString());
                result.put("key", issued.key().toAbsolutePath().toString());
                result.put("role", parsed.label());
                result.put("vms", issued.identity().vmPatterns());
                Json.print(System.out, result);
            } else {
                System.out.printf("issued %s: %s and %s (role %s%s)%n", name, issued.certificate(), issued.key(),
                        parsed.label(), vms.isEmpty() ? "" : ", vms " + String.join(" ", vms));
            }
            return 0;
        }
    }

    private interface Step<T> {
        T run() throws Exception;
    }

    private static <T> T run(Step<T> step) throws Exception {
        try {
            return step.run();
        } catch (PkiException e) {
            throw new Errors.UserError(e.getMessage());
        }
    }
}
