package io.cpstream.security;

import io.grpc.netty.shaded.io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.netty.handler.ssl.ClientAuth;
import io.grpc.netty.shaded.io.netty.handler.ssl.SslContext;
import io.grpc.netty.shaded.io.netty.handler.ssl.SslContextBuilder;
import java.security.GeneralSecurityException;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import javax.net.ssl.KeyManager;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;
import javax.net.ssl.TrustManager;

/**
 * The TLS contexts cpstream uses: TLS 1.3 only, mutual (a server requires the client's certificate), over
 * {@link TlsMaterial} so that certificates rotate without a restart. gRPC channels use Netty's TLS (BoringSSL when
 * its natives load, the JDK's otherwise); the output sink's line protocol uses the JDK's.
 */
public final class Tls {

    public static final String PROTOCOL = "TLSv1.3";

    private Tls() {
    }

    /** For a gRPC server: requires and checks a client certificate. */
    public static SslContext grpcServer(TlsMaterial material) throws SSLException {
        return GrpcSslContexts.configure(SslContextBuilder.forServer(material.keyManager()))
                .trustManager(material.trustManager())
                .clientAuth(ClientAuth.REQUIRE)
                .protocols(PROTOCOL)
                .build();
    }

    /** For a gRPC channel: presents this side's certificate, requires the server's role. */
    public static SslContext grpcClient(TlsMaterial material) throws SSLException {
        return GrpcSslContexts.forClient()
                .keyManager(material.keyManager())
                .trustManager(material.trustManager())
                .protocols(PROTOCOL)
                .build();
    }

    /**
     * Secures {@code channel} as {@code settings} say: mutual TLS requiring a server of role {@code server}, or
     * plaintext for {@link TlsSettings#INSECURE}.
     */
    public static NettyChannelBuilder secure(NettyChannelBuilder channel, TlsSettings settings, Role server)
            throws PkiException {
        if (settings.insecure()) {
            return channel.usePlaintext();
        }
        try {
            return channel.sslContext(grpcClient(TlsMaterial.load(settings, server)));
        } catch (SSLException e) {
            throw new PkiException("cannot set up TLS: " + e.getMessage(), e);
        }
    }

    /** A JDK context for sockets (the sink's line protocol), either side. */
    public static SSLContext sockets(TlsMaterial material) {
        try {
            SSLContext context = SSLContext.getInstance(PROTOCOL);
            context.init(new KeyManager[] {material.keyManager()}, new TrustManager[] {material.trustManager()}, null);
            return context;
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("this JVM cannot make a " + PROTOCOL + " context", e);
        }
    }

    /** The identity the peer of {@code session} presented; {@link Identity#UNAUTHENTICATED} without a session. */
    public static Identity peer(SSLSession session) throws SSLPeerUnverifiedException {
        if (session == null) {
            return Identity.UNAUTHENTICATED;
        }
        Certificate[] chain = session.getPeerCertificates();
        if (chain.length == 0 || !(chain[0] instanceof X509Certificate leaf)) {
            throw new SSLPeerUnverifiedException("the peer presented no X.509 certificate");
        }
        try {
            return Identity.of(leaf);
        } catch (IllegalArgumentException e) {
            throw new SSLPeerUnverifiedException(e.getMessage());
        }
    }
}
