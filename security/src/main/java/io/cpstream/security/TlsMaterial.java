package io.cpstream.security;

import java.io.IOException;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.Principal;
import java.security.PrivateKey;
import java.security.Signature;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.Objects;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedKeyManager;
import javax.net.ssl.X509ExtendedTrustManager;

/**
 * A daemon's TLS identity and the CA it trusts, read from {@link TlsSettings}' files and read again whenever one of
 * them changed (checked at every handshake: three stat calls), so certificates rotate without a restart. A set of
 * files that does not load or whose key does not match its certificate (a rotation half done) is logged and the
 * previous material stays in use.
 *
 * <p>The trust manager checks a peer's chain against the CA (PKIX) and its cpstream identity: it must carry a
 * role ({@link Identity}) and, when {@code expectedPeer} is set (a client checking its server), that role. It does
 * not match host names: the CA is cpstream's own, and the role is what a peer is trusted for.
 */
public final class TlsMaterial {

    private static final System.Logger LOG = System.getLogger(TlsMaterial.class.getName());
    private static final String ALIAS = "cpstream";

    private record Loaded(List<Object> stamp, PrivateKey key, X509Certificate[] chain, X509Certificate[] cas,
                          X509ExtendedTrustManager pkix, Identity identity) {
    }

    private final TlsSettings settings;
    private final Role expectedPeer;
    private volatile Loaded loaded;

    private TlsMaterial(TlsSettings settings, Role expectedPeer, Loaded loaded) {
        this.settings = settings;
        this.expectedPeer = expectedPeer;
        this.loaded = loaded;
    }

    /**
     * Loads {@code settings}' files; {@code expectedPeer} is the role a client requires of its server, null on a
     * server (the services authorize each call by the peer's role).
     */
    public static TlsMaterial load(TlsSettings settings, Role expectedPeer) throws PkiException {
        if (settings.insecure()) {
            throw new IllegalArgumentException("insecure settings have no TLS material");
        }
        return new TlsMaterial(settings, expectedPeer, read(settings));
    }

    /** Who this side is, as its own certificate says. */
    public Identity identity() {
        return current().identity();
    }

    private static List<Object> stamp(TlsSettings settings) {
        return List.of(stamp(settings.cert()), stamp(settings.key()), stamp(settings.ca()));
    }

    private static Object stamp(Path file) {
        try {
            BasicFileAttributes attributes = Files.readAttributes(file, BasicFileAttributes.class);
            return List.of(attributes.lastModifiedTime(), attributes.size(), Objects.toString(attributes.fileKey()));
        } catch (IOException e) {
            return "missing";
        }
    }

    private static Loaded read(TlsSettings settings) throws PkiException {
        List<Object> stamp = stamp(settings);
        List<X509Certificate> chain = PemFiles.certificates(settings.cert());
        PrivateKey key = PemFiles.key(settings.key());
        List<X509Certificate> cas = PemFiles.certificates(settings.ca());
        requireMatch(key, chain.getFirst(), settings.cert());
        Identity identity;
        try {
            identity = Identity.of(chain.getFirst());
        } catch (IllegalArgumentException e) {
            throw new PkiException(settings.cert() + ": " + e.getMessage());
        }
        try {
            KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
            store.load(null, null);
            for (int i = 0; i < cas.size(); i++) {
                store.setCertificateEntry("ca-" + i, cas.get(i));
            }
            TrustManagerFactory factory = TrustManagerFactory.getInstance("PKIX");
            factory.init(store);
            X509ExtendedTrustManager pkix = null;
            for (TrustManager manager : factory.getTrustManagers()) {
                if (manager instanceof X509ExtendedTrustManager extended) {
                    pkix = extended;
                }
            }
            if (pkix == null) {
                throw new PkiException("this JVM has no PKIX trust manager");
            }
            // The certificate must itself be one the CA vouches for, or peers would refuse it at every handshake.
            try {
                pkix.checkClientTrusted(chain.toArray(X509Certificate[]::new), "UNKNOWN");
            } catch (CertificateException e) {
                throw new PkiException(settings.cert() + " is not issued by the CA in " + settings.ca() + ": "
                        + e.getMessage(), e);
            }
            return new Loaded(stamp, key, chain.toArray(X509Certificate[]::new), cas.toArray(X509Certificate[]::new),
                    pkix, identity);
        } catch (GeneralSecurityException | IOException e) {
            throw new PkiException("cannot build the trust store from " + settings.ca() + ": " + e.getMessage(), e);
        }
    }

    private static void requireMatch(PrivateKey key, X509Certificate cert, Path where) throws PkiException {
        try {
            String algorithm = key.getAlgorithm().equals("EC") ? "SHA256withECDSA"
                    : key.getAlgorithm().equals("RSA") ? "SHA256withRSA" : key.getAlgorithm();
            byte[] probe = "cpstream key check".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
            Signature signer = Signature.getInstance(algorithm);
            signer.initSign(key);
            signer.update(probe);
            byte[] signature = signer.sign();
            Signature verifier = Signature.getInstance(algorithm);
            verifier.initVerify(cert.getPublicKey());
            verifier.update(probe);
            if (!verifier.verify(signature)) {
                throw new PkiException("the key does not belong to the certificate " + where);
            }
        } catch (GeneralSecurityException e) {
            throw new PkiException("the key does not belong to the certificate " + where + ": " + e.getMessage(), e);
        }
    }

    /** The material now: read again if a file changed and the new set loads, else the previous one. */
    private Loaded current() {
        Loaded now = loaded;
        if (now.stamp().equals(stamp(settings))) {
            return now;
        }
        synchronized (this) {
            now = loaded;
            if (now.stamp().equals(stamp(settings))) {
                return now;
            }
            try {
                Loaded fresh = read(settings);
                loaded = fresh;
                LOG.log(System.Logger.Level.INFO, "TLS: reloaded {0} (now {1}, valid until {2})", settings.cert(),
                        fresh.identity(), fresh.chain()[0].getNotAfter());
                return fresh;
            } catch (PkiException e) {
                LOG.log(System.Logger.Level.WARNING, "TLS: the changed files do not load; keeping the previous "
                        + "certificate: {0}", e.getMessage());
                return now;
            }
        }
    }

    /** The key manager: always this daemon's current certificate and key. */
    public X509ExtendedKeyManager keyManager() {
        return new X509ExtendedKeyManager() {
            @Override
            public String[] getClientAliases(String keyType, Principal[] issuers) {
                return new String[] {ALIAS};
            }

            @Override
            public String chooseClientAlias(String[] keyType, Principal[] issuers, Socket socket) {
                return ALIAS;
            }

            @Override
            public String[] getServerAliases(String keyType, Principal[] issuers) {
                return new String[] {ALIAS};
            }

            @Override
            public String chooseServerAlias(String keyType, Principal[] issuers, Socket socket) {
                return ALIAS;
            }

            @Override
            public String chooseEngineClientAlias(String[] keyType, Principal[] issuers, SSLEngine engine) {
                return ALIAS;
            }

            @Override
            public String chooseEngineServerAlias(String keyType, Principal[] issuers, SSLEngine engine) {
                return ALIAS;
            }

            @Override
            public X509Certificate[] getCertificateChain(String alias) {
                return current().chain().clone();
            }

            @Override
            public PrivateKey getPrivateKey(String alias) {
                return current().key();
            }
        };
    }

    /** The trust manager: the current CA, and a cpstream identity (of the expected role, on a client). */
    public X509ExtendedTrustManager trustManager() {
        return new X509ExtendedTrustManager() {
            @Override
            public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket)
                    throws CertificateException {
                checkClientTrusted(chain, authType);
            }

            @Override
            public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
                    throws CertificateException {
                checkClientTrusted(chain, authType);
            }

            @Override
            public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
                current().pkix().checkClientTrusted(chain, authType);
                requireIdentity(chain, null);
            }

            @Override
            public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket)
                    throws CertificateException {
                checkServerTrusted(chain, authType);
            }

            @Override
            public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
                    throws CertificateException {
                checkServerTrusted(chain, authType);
            }

            @Override
            public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
                current().pkix().checkServerTrusted(chain, authType);
                requireIdentity(chain, expectedPeer);
            }

            @Override
            public X509Certificate[] getAcceptedIssuers() {
                return current().cas().clone();
            }
        };
    }

    private static void requireIdentity(X509Certificate[] chain, Role expected) throws CertificateException {
        Identity identity;
        try {
            identity = Identity.of(chain[0]);
        } catch (IllegalArgumentException e) {
            throw new CertificateException("peer certificate: " + e.getMessage());
        }
        if (expected != null && identity.role() != expected) {
            throw new CertificateException("the peer is a " + identity.role().label() + ", not a " + expected.label());
        }
    }

    @Override
    public String toString() {
        return settings.toString();
    }
}
