package io.cpstream.harness.attack;

import java.util.EnumSet;
import java.util.Locale;
import java.util.Set;

/** The attacks a bench can run beside its honest load ({@code bench --vms N --attack slowloris,hello-flood}). */
public enum Attack {
    /** Many connections that stall: silent TCP, a partial TLS ClientHello, an authenticated partial HTTP/2 frame. */
    SLOWLORIS,
    /** Hellos at a high rate: authenticated but unauthorized, of the wrong role, and unauthenticated. */
    HELLO_FLOOD;

    /** As written on the command line. */
    public String label() {
        return name().toLowerCase(Locale.ROOT).replace('_', '-');
    }

    /** {@code slowloris,hello-flood}: each name at most once; an unknown one says which are known. */
    public static Set<Attack> parse(String list) {
        Set<Attack> attacks = EnumSet.noneOf(Attack.class);
        for (String name : list.split(",")) {
            String wanted = name.strip();
            Attack attack = null;
            for (Attack candidate : values()) {
                if (candidate.label().equals(wanted)) {
                    attack = candidate;
                }
            }
            if (attack == null) {
                throw new IllegalArgumentException("unknown attack '" + wanted + "'; known: slowloris, hello-flood");
            }
            attacks.add(attack);
        }
        return attacks;
    }
}
