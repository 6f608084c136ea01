package io.cpstream.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** sd_notify over a real AF_UNIX datagram socket, as systemd binds it (path and abstract forms). */
class SdNotifyTest {

    @TempDir
    Path dir;

    @Test
    void readyAndStoppingReachAFilesystemSocket() throws Throwable {
        try (NotifyReceiver systemd = NotifyReceiver.at(dir.resolve("notify"))) {
            assertTrue(SdNotify.send(systemd.name(), "READY=1\nSTATUS=up"));
            assertEquals("READY=1\nSTATUS=up", systemd.poll());
            assertTrue(SdNotify.send(systemd.name(), "STOPPING=1"));
            assertEquals("STOPPING=1", systemd.poll());
            assertNull(systemd.poll(), "nothing else was sent");
        }
    }

    @Test
    void abstractNamespaceSocket() throws Throwable {
        String name = "@cpstream-test-" + ProcessHandle.current().pid() + "-" + System.nanoTime();
        try (NotifyReceiver systemd = new NotifyReceiver(name)) {
            assertTrue(SdNotify.send(name, "READY=1"));
            assertEquals("READY=1", systemd.poll());
        }
    }

    @Test
    void withoutNotifySocketNothingIsSent() {
        assertFalse(SdNotify.send(null, "READY=1"));
        assertFalse(SdNotify.send("", "READY=1"));
    }

    @Test
    void aSocketThatIsNotThereIsAnError() {
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> SdNotify.send(dir.resolve("absent").toString(), "READY=1"));
        assertTrue(e.getMessage().contains("cannot notify systemd"), e.getMessage());
    }
}
