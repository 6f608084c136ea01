package io.cpstream.cli;

/**
 * One line per log record, stamped to the millisecond with the zone: the JDK's default spreads a record over two
 * lines stamped to the second, too coarse to line up a failover across the agent's, the collectors' and
 * ZooKeeper's logs. An operator's own {@code -Djava.util.logging.SimpleFormatter.format} wins.
 */
final class LogFormat {

    static final String PROPERTY = "java.util.logging.SimpleFormatter.format";
    /** e.g. {@code 2026-12-06T19:39:55.123+0000 INFO io.cpstream.agent.Agent: vm chaos: protected again ...}. */
    static final String FORMAT = "%1$tFT%1$tT.%1$tL%1$tz %4$s %3$s: %5$s%6$s%n";

    private LogFormat() {
    }

    /** Before the first log record: the JDK's formatter reads the property once. */
    static void install() {
        if (System.getProperty(PROPERTY) == null) {
            System.setProperty(PROPERTY, FORMAT);
        }
    }
}
