package io.cpstream.cli;

import com.sun.net.httpserver.Filter;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsExchange;
import com.sun.net.httpserver.HttpsParameters;
import io.cpstream.security.ClientText;
import io.cpstream.security.Identity;
import io.cpstream.security.Role;
import io.cpstream.security.Tls;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLPeerUnverifiedException;

/**
 * Who may read {@code /metrics} and {@code /health} of a daemon run over mutual TLS. {@link #configurator} makes the
 * server speak TLS 1.3 only and require a client certificate, which the daemon's trust manager checks against its CA
 * (chain, and that it carries a cpstream role; on a server any role passes that check). This filter then lets
 * certificates of role {@code reader} or {@code admin} through (Prometheus scrapes with a reader certificate) and
 * answers every other role 403: an agent's or a sink's certificate is no licence to read the fleet's metrics.
 */
final class MetricsAccess extends Filter {

    private static final System.Logger LOG = System.getLogger(MetricsAccess.class.getName());
    static final String REFUSAL = "forbidden: /metrics and /health need a reader or admin certificate\n";
    /** How much of a client's certificate name goes into a log line. */
    private static final int MAX_LOGGED_NAME = 64;

    /** TLS 1.3 with a client certificate required, over {@code context} (the daemon's {@code Tls.sockets}). */
    static HttpsConfigurator configurator(SSLContext context) {
        return new HttpsConfigurator(context) {
            @Override
            public void configure(HttpsParameters params) {
                SSLParameters ssl = getSSLContext().getDefaultSSLParameters();
                ssl.setProtocols(new String[] {Tls.PROTOCOL});
                ssl.setNeedClientAuth(true);
                params.setSSLParameters(ssl);
            }
        };
    }

    @Override
    public void doFilter(HttpExchange exchange, Chain chain) throws IOException {
        Identity peer;
        try {
            // Each request, not each connection: a kept-alive connection carries its handshake's identity.
            peer = exchange instanceof HttpsExchange secure ? Tls.peer(secure.getSSLSession())
                    : Identity.UNAUTHENTICATED;
        } catch (SSLPeerUnverifiedException e) {
            // Not reached while the handshake requires a certificate; refused all the same should that change.
            refuse(exchange, "a peer without a verified certificate");
            return;
        }
        if (!peer.hasRole(Role.READER, Role.ADMIN)) {
            refuse(exchange, printable(peer.name()) + " (" + peer.role().label() + ")");
            return;
        }
        chain.doFilter(exchange);
    }

    private static void refuse(HttpExchange exchange, String who) throws IOException {
        // The path is the context's own (/metrics or /health), not the client's string.
        LOG.log(System.Logger.Level.WARNING, "metrics: refused {0} from {1} on {2}: only reader and admin "
                + "certificates may read /metrics and /health", who, exchange.getRemoteAddress(),
                exchange.getHttpContext().getPath());
        byte[] body = REFUSAL.getBytes(StandardCharsets.US_ASCII);
        exchange.getResponseHeaders().set("Content-Type", "text/plain; charset=utf-8");
        exchange.sendResponseHeaders(403, body.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(body);
        }
    }

    /** A certificate's name fit for a log line: at most {@value #MAX_LOGGED_NAME} characters, escaped. */
    static String printable(String text) {
        return ClientText.escape(text, MAX_LOGGED_NAME);
    }

    @Override
    public String description() {
        return "only reader and admin certificates";
    }
}
