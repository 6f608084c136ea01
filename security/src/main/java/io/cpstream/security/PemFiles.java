package io.cpstream.security;

import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.PrivateKey;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.openssl.PEMKeyPair;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;

/** Reading PEM certificates and keys (Bouncy Castle's parser). */
public final class PemFiles {

    /** A key and the certificates that go with it (the first is the key's). */
    public record Material(PrivateKey key, List<X509Certificate> chain) {
    }

    private PemFiles() {
    }

    /** Every certificate in {@code file}, in order; at least one. */
    public static List<X509Certificate> certificates(Path file) throws PkiException {
        List<X509Certificate> certs = new ArrayList<>();
        try (Reader reader = Files.newBufferedReader(file, StandardCharsets.US_ASCII);
             PEMParser parser = new PEMParser(reader)) {
            JcaX509CertificateConverter converter = new JcaX509CertificateConverter();
            for (Object item = parser.readObject(); item != null; item = parser.readObject()) {
                if (item instanceof X509CertificateHolder holder) {
                    certs.add(converter.getCertificate(holder));
                }
            }
        } catch (NoSuchFileException e) {
            throw new PkiException("certificate file " + file + " does not exist");
        } catch (IOException | CertificateException | RuntimeException e) {
            throw new PkiException("cannot read certificates from " + file + ": " + e.getMessage(), e);
        }
        if (certs.isEmpty()) {
            throw new PkiException(file + " holds no PEM certificate");
        }
        return List.copyOf(certs);
    }

    /** The private key in {@code file} (PKCS#8 or a traditional key pair). */
    public static PrivateKey key(Path file) throws PkiException {
        try (Reader reader = Files.newBufferedReader(file, StandardCharsets.US_ASCII);
             PEMParser parser = new PEMParser(reader)) {
            JcaPEMKeyConverter converter = new JcaPEMKeyConverter();
            for (Object item = parser.readObject(); item != null; item = parser.readObject()) {
                if (item instanceof PrivateKeyInfo info) {
                    return converter.getPrivateKey(info);
                }
                if (item instanceof PEMKeyPair pair) {
                    return converter.getKeyPair(pair).getPrivate();
                }
            }
        } catch (NoSuchFileException e) {
            throw new PkiException("key file " + file + " does not exist");
        } catch (IOException | RuntimeException e) {
            throw new PkiException("cannot read the key in " + file + ": " + e.getMessage(), e);
        }
        throw new PkiException(file + " holds no unencrypted PEM private key");
    }

    /** The CA of a {@code pki} directory: its key and certificate. */
    static Material readCa(Path dir) throws PkiException {
        Path cert = dir.resolve(Pki.CA_CERT);
        Path key = dir.resolve(Pki.CA_KEY);
        if (!Files.exists(cert) || !Files.exists(key)) {
            throw new PkiException(dir + " holds no CA (" + Pki.CA_CERT + " and " + Pki.CA_KEY
                    + "); run 'cpstream pki init --dir " + dir + "' first");
        }
        return new Material(key(key), certificates(cert));
    }
}
