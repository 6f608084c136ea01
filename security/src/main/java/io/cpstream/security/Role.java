package io.cpstream.security;

import java.util.Locale;

/** What a certificate's holder may do; carried in the certificate as the SAN URI {@code cpstream://role/<name>}. */
public enum Role {
    /** Serves the replication and admin APIs. */
    COLLECTOR,
    /** Receives released guest output over the sink's line protocol. */
    SINK,
    /** Streams checkpoints of, and releases output for, the VMs its certificate names. */
    AGENT,
    /** Lists, reads, promotes and deletes VMs. */
    ADMIN,
    /** Lists and reads VMs. */
    READER;

    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** The role called {@code label} ({@code agent}); IllegalArgumentException naming the choices otherwise. */
    public static Role parse(String label) {
        for (Role role : values()) {
            if (role.label().equals(label)) {
                return role;
            }
        }
        throw new IllegalArgumentException("'" + label + "' is not a role: collector, sink, agent, admin or reader");
    }
}
