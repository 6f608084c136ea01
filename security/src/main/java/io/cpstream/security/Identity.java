package io.cpstream.security;

import java.security.cert.CertificateParsingException;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.regex.Pattern;
import javax.security.auth.x500.X500Principal;

/**
 * Who a peer is, as its certificate says: a name (the subject's CN), one role and, for an agent, the VM names it
 * may protect as patterns ({@code web-*}). In the certificate the role is the SAN URI {@code cpstream://role/agent}
 * and each pattern a SAN URI {@code cpstream://vm/web-*}. A peer on a plaintext channel ({@code --insecure}) is
 * {@link #UNAUTHENTICATED}: it may do everything, which is what insecure means.
 */
public record Identity(String name, Role role, List<String> vmPatterns, boolean authenticated) {

    public static final String URI_PREFIX = "cpstream://";
    public static final String ROLE_PREFIX = URI_PREFIX + "role/";
    public static final String VM_PREFIX = URI_PREFIX + "vm/";
    /** A VM pattern: VM id characters and {@code *} for any run of them. */
    public static final Pattern VM_PATTERN = Pattern.compile("[A-Za-z0-9*][A-Za-z0-9._*-]{0,63}");
    private static final int SAN_URI = 6;

    public static final Identity UNAUTHENTICATED = new Identity("(insecure)", null, List.of(), false);

    public Identity {
        vmPatterns = List.copyOf(vmPatterns);
    }

    /** The identity {@code certificate} carries; IllegalArgumentException if it carries no single valid role. */
    public static Identity of(X509Certificate certificate) {
        Role role = null;
        List<String> vms = new ArrayList<>();
        Collection<List<?>> names;
        try {
            names = certificate.getSubjectAlternativeNames();
        } catch (CertificateParsingException e) {
            throw new IllegalArgumentException("unreadable subject alternative names", e);
        }
        if (names != null) {
            for (List<?> entry : names) {
                if (entry.size() < 2 || !(entry.get(0) instanceof Integer type) || type != SAN_URI
                        || !(entry.get(1) instanceof String uri)) {
                    continue;
                }
                if (uri.startsWith(ROLE_PREFIX)) {
                    if (role != null) {
                        throw new IllegalArgumentException("the certificate names more than one role");
                    }
                    role = Role.parse(uri.substring(ROLE_PREFIX.length()));
                } else if (uri.startsWith(VM_PREFIX)) {
                    String pattern = uri.substring(VM_PREFIX.length());
                    if (!VM_PATTERN.matcher(pattern).matches()) {
                        throw new IllegalArgumentException("the certificate names an invalid VM pattern");
                    }
                    vms.add(pattern);
                }
            }
        }
        if (role == null) {
            throw new IllegalArgumentException("the certificate names no cpstream role (SAN URI " + ROLE_PREFIX
                    + "...)");
        }
        return new Identity(commonName(certificate.getSubjectX500Principal()), role, vms, true);
    }

    private static String commonName(X500Principal subject) {
        for (String part : subject.getName(X500Principal.RFC2253).split(",")) {
            if (part.startsWith("CN=")) {
                return part.substring(3);
            }
        }
        return subject.getName();
    }

    /** Whether this peer has one of {@code roles} (always, unauthenticated). */
    public boolean hasRole(Role... roles) {
        if (!authenticated) {
            return true;
        }
        for (Role candidate : roles) {
            if (candidate == role) {
                return true;
            }
        }
        return false;
    }

    /** Whether this peer may stream and release output for {@code vm}: an agent whose certificate names it. */
    public boolean mayProtect(String vm) {
        if (!authenticated) {
            return true;
        }
        if (role != Role.AGENT) {
            return false;
        }
        for (String pattern : vmPatterns) {
            if (matches(pattern, vm)) {
                return true;
            }
        }
        return false;
    }

    /** Whether {@code vm} matches {@code pattern}, where {@code *} stands for any run of characters. */
    public static boolean matches(String pattern, String vm) {
        return matches(pattern, 0, vm, 0);
    }

    private static boolean matches(String pattern, int p, String vm, int v) {
        while (p < pattern.length()) {
            char c = pattern.charAt(p);
            if (c == '*') {
                // Collapse runs of '*', then try every split; patterns are at most 64 characters.
                while (p < pattern.length() && pattern.charAt(p) == '*') {
                    p++;
                }
                if (p == pattern.length()) {
                    return true;
                }
                for (int from = v; from <= vm.length(); from++) {
                    if (matches(pattern, p, vm, from)) {
                        return true;
                    }
                }
                return false;
            }
            if (v >= vm.length() || vm.charAt(v) != c) {
                return false;
            }
            p++;
            v++;
        }
        return v == vm.length();
    }

    /** Whether {@code other} is the same peer (name and role; the VMs it names may differ after a rotation). */
    public boolean samePeer(Identity other) {
        return other != null && authenticated == other.authenticated && name.equals(other.name) && role == other.role;
    }

    /** For logs and audit lines: {@code name (role)}. */
    @Override
    public String toString() {
        return authenticated ? name + " (" + role.label() + ")" : name;
    }
}
