package io.cpstream.security;

import java.io.IOException;
import java.io.StringWriter;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.List;
import java.util.regex.Pattern;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x500.X500NameBuilder;
import org.bouncycastle.asn1.x500.style.BCStyle;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.X509v3CertificateBuilder;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.openssl.jcajce.JcaPKCS8Generator;
import org.bouncycastle.operator.ContentSigner;
import org.bouncycastle.operator.OperatorCreationException;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * A small certificate authority for one cpstream deployment ({@code cpstream pki}). {@link #init} makes the CA
 * ({@code ca.crt}, {@code ca.key}); {@link #issue} makes an identity {@code N.crt}/{@code N.key} signed by it whose
 * SAN URIs carry its role and VM patterns ({@link Identity}). Keys are ECDSA P-256, everything is PEM, the
 * directory is 0700 and keys 0600 whatever the umask. Issuing again under a name replaces that identity (rotation:
 * the daemons pick the new files up at their next handshake).
 */
public final class Pki {

    public static final String CA_CERT = "ca.crt";
    public static final String CA_KEY = "ca.key";
    /** Identity names are file names: no separators, no dot files. */
    public static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,63}");
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final String SIGNATURE = "SHA256withECDSA";

    private Pki() {
    }

    /** What {@link #issue} wrote. */
    public record Issued(Path certificate, Path key, Identity identity) {
    }

    /** Creates the CA in {@code dir}; refuses to overwrite one (that would orphan every issued identity). */
    public static Path init(Path dir, Duration validity) throws IOException, PkiException {
        PrivateFiles.createDirectory(dir);
        Path cert = dir.resolve(CA_CERT);
        if (Files.exists(cert) || Files.exists(dir.resolve(CA_KEY))) {
            throw new PkiException(dir + " already holds a CA (" + CA_CERT + "); remove it to make a new one, which "
                    + "invalidates every certificate it issued");
        }
        KeyPair pair = newKeyPair();
        X500Name subject = new X500NameBuilder(BCStyle.INSTANCE).addRDN(BCStyle.O, "cpstream")
                .addRDN(BCStyle.CN, "cpstream CA " + dir.toAbsolutePath().getFileName()).build();
        Instant now = Instant.now();
        try {
            JcaX509ExtensionUtils ext = new JcaX509ExtensionUtils();
            X509v3CertificateBuilder builder = new JcaX509v3CertificateBuilder(subject, serial(),
                    Date.from(now.minus(Duration.ofMinutes(5))), Date.from(now.plus(validity)), subject, pair.getPublic())
                    .addExtension(Extension.basicConstraints, true, new BasicConstraints(0))
                    .addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign))
                    .addExtension(Extension.subjectKeyIdentifier, false, ext.createSubjectKeyIdentifier(pair.getPublic()));
            X509Certificate ca = sign(builder, pair.getPrivate());
            PrivateFiles.write(dir.resolve(CA_KEY), pem(pair.getPrivate()));
            PrivateFiles.write(cert, pem(ca));
            return cert;
        } catch (GeneralSecurityException | OperatorCreationException e) {
            throw new PkiException("cannot make the CA: " + e.getMessage(), e);
        }
    }

    /** Issues identity {@code name} with {@code role} and {@code vmPatterns} (agents only), signed by the CA in {@code dir}. */
    public static Issued issue(Path dir, String name, Role role, List<String> vmPatterns, Duration validity)
            throws IOException, PkiException {
        if (!NAME.matcher(name).matches() || name.equals("ca")) {
            throw new PkiException("'" + name + "' is not an identity name: 1-64 letters, digits, '.', '_' or '-', "
                    + "not 'ca'");
        }
        for (String pattern : vmPatterns) {
            if (!Identity.VM_PATTERN.matcher(pattern).matches()) {
                throw new PkiException("'" + pattern + "' is not a VM pattern: VM id characters and '*'");
            }
        }
        if (role == Role.AGENT && vmPatterns.isEmpty()) {
            throw new PkiException("an agent certificate needs at least one --vm (the VMs it may protect)");
        }
        if (role != Role.AGENT && !vmPatterns.isEmpty()) {
            throw new PkiException("only agent certificates name VMs (--vm)");
        }
        PemFiles.Material ca = PemFiles.readCa(dir);
        KeyPair pair = newKeyPair();
        X500Name subject = new X500NameBuilder(BCStyle.INSTANCE).addRDN(BCStyle.O, "cpstream")
                .addRDN(BCStyle.OU, role.label()).addRDN(BCStyle.CN, name).build();
        List<GeneralName> sans = new ArrayList<>();
        sans.add(new GeneralName(GeneralName.uniformResourceIdentifier, Identity.ROLE_PREFIX + role.label()));
        for (String pattern : vmPatterns) {
            sans.add(new GeneralName(GeneralName.uniformResourceIdentifier, Identity.VM_PREFIX + pattern));
        }
        sans.add(new GeneralName(GeneralName.dNSName, name));
        Instant now = Instant.now();
        X509Certificate caCert = ca.chain().getFirst();
        Instant notAfter = now.plus(validity);
        if (notAfter.isAfter(caCert.getNotAfter().toInstant())) {
            notAfter = caCert.getNotAfter().toInstant();
        }
        try {
            JcaX509ExtensionUtils ext = new JcaX509ExtensionUtils();
            X509v3CertificateBuilder builder = new JcaX509v3CertificateBuilder(caCert, serial(),
                    Date.from(now.minus(Duration.ofMinutes(5))), Date.from(notAfter), subject, pair.getPublic())
                    .addExtension(Extension.basicConstraints, true, new BasicConstraints(false))
                    .addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.digitalSignature))
                    .addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(
                            new KeyPurposeId[] {KeyPurposeId.id_kp_serverAuth, KeyPurposeId.id_kp_clientAuth}))
                    .addExtension(Extension.subjectAlternativeName, false,
                            new GeneralNames(sans.toArray(GeneralName[]::new)))
                    .addExtension(Extension.subjectKeyIdentifier, false, ext.createSubjectKeyIdentifier(pair.getPublic()))
                    .addExtension(Extension.authorityKeyIdentifier, false, ext.createAuthorityKeyIdentifier(caCert));
            X509Certificate cert = sign(builder, ca.key());
            Path keyFile = dir.resolve(name + ".key");
            Path certFile = dir.resolve(name + ".crt");
            // The key first: a daemon reloading between the two writes finds a new key beside the old certificate,
            // fails that one handshake, and takes both at the next.
            PrivateFiles.replace(keyFile, pem(pair.getPrivate()));
            PrivateFiles.replace(certFile, pem(cert));
            return new Issued(certFile, keyFile, Identity.of(cert));
        } catch (GeneralSecurityException | OperatorCreationException e) {
            throw new PkiException("cannot issue " + name + ": " + e.getMessage(), e);
        }
    }

    /** The identities of one self-contained run (demo, bench, tests): a collector, an agent of some VMs, an admin. */
    public record Throwaway(TlsSettings collector, TlsSettings agent, TlsSettings admin) {
    }

    /** A fresh CA in {@code dir} and the three identities of a run on one machine, valid for a day. */
    public static Throwaway throwaway(Path dir, String vmPattern) throws IOException, PkiException {
        Duration day = Duration.ofDays(1);
        init(dir, day);
        issue(dir, "collector", Role.COLLECTOR, List.of(), day);
        issue(dir, "agent", Role.AGENT, List.of(vmPattern), day);
        issue(dir, "admin", Role.ADMIN, List.of(), day);
        return new Throwaway(settings(dir, "collector"), settings(dir, "agent"), settings(dir, "admin"));
    }

    /** The TLS settings of identity {@code name} issued in {@code dir}. */
    public static TlsSettings settings(Path dir, String name) {
        return TlsSettings.files(dir.resolve(name + ".crt"), dir.resolve(name + ".key"), dir.resolve(CA_CERT));
    }

    private static KeyPair newKeyPair() throws PkiException {
        try {
            KeyPairGenerator generator = KeyPairGenerator.getInstance("EC");
            generator.initialize(new ECGenParameterSpec("secp256r1"), RANDOM);
            return generator.generateKeyPair();
        } catch (GeneralSecurityException e) {
            throw new PkiException("cannot make an EC key: " + e.getMessage(), e);
        }
    }

    private static X509Certificate sign(X509v3CertificateBuilder builder, PrivateKey key)
            throws OperatorCreationException, GeneralSecurityException {
        ContentSigner signer = new JcaContentSignerBuilder(SIGNATURE).build(key);
        return new JcaX509CertificateConverter().getCertificate(builder.build(signer));
    }

    private static BigInteger serial() {
        return new BigInteger(127, RANDOM).add(BigInteger.ONE);
    }

    static byte[] pem(Object object) throws IOException {
        StringWriter text = new StringWriter();
        try (JcaPEMWriter writer = new JcaPEMWriter(text)) {
            // Keys as PKCS#8 ("PRIVATE KEY"), which every TLS stack reads.
            writer.writeObject(object instanceof PrivateKey key ? new JcaPKCS8Generator(key, null) : object);
        }
        return text.toString().getBytes(StandardCharsets.US_ASCII);
    }
}
