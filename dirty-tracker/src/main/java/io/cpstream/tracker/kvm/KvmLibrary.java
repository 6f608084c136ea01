package io.cpstream.tracker.kvm;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * Loads the native shim (libcpskvm.so, shipped as a resource in this jar) and binds its functions
 * with the FFM API. The library is copied to a private temporary file first because the dynamic
 * loader can only map files, not jar entries.
 */
final class KvmLibrary {

    static final String RESOURCE = "native/libcpskvm.so";
    static final long ERR_LEN = 512;

    final MethodHandle create;
    final MethodHandle createEmu;
    final MethodHandle emuAvailable;
    final MethodHandle memory;
    final MethodHandle write;
    final MethodHandle markAllDirty;
    final MethodHandle boot;
    final MethodHandle resume;
    final MethodHandle stun;
    final MethodHandle harvest;
    final MethodHandle stateMax;
    final MethodHandle saveState;
    final MethodHandle loadState;
    final MethodHandle input;
    final MethodHandle drainOutput;
    final MethodHandle outputTime;
    final MethodHandle awaitOutput;
    final MethodHandle wakeOutputWaiter;
    final MethodHandle drainConsole;
    final MethodHandle check;
    final MethodHandle protectProbe;
    final MethodHandle protect;
    final MethodHandle protectedCopy;
    final MethodHandle protectRelease;
    final MethodHandle cowFaults;
    final MethodHandle destroy;
    final MethodHandle record;
    final MethodHandle drainEvents;
    final MethodHandle replay;
    final MethodHandle replayExtend;
    final MethodHandle rrStatus;
    final MethodHandle waitReplayEnd;
    final MethodHandle xtraceOpen;
    final MethodHandle xtraceClose;

    private KvmLibrary(SymbolLookup lib) {
        Linker linker = Linker.nativeLinker();
        Binder b = (name, fd) -> linker.downcallHandle(lib.find(name).orElseThrow(
                () -> new KvmException("native shim lacks symbol " + name + " (stale build?)")), fd);
        // Every fallible call ends with (char *err, size_t errlen).
        create = b.bind("cps_vm_create", FunctionDescriptor.of(ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_LONG));
        createEmu = b.bind("cps_vm_create_emu", FunctionDescriptor.of(ADDRESS, JAVA_LONG, ADDRESS, JAVA_LONG));
        emuAvailable = b.bind("cps_emu_available", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG));
        memory = b.bind("cps_vm_memory", FunctionDescriptor.of(ADDRESS, ADDRESS));
        write = b.bind("cps_vm_write", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, ADDRESS, JAVA_LONG, ADDRESS, JAVA_LONG));
        markAllDirty = b.bind("cps_vm_mark_all_dirty", FunctionDescriptor.ofVoid(ADDRESS));
        boot = b.bind("cps_vm_boot", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG, ADDRESS, JAVA_INT, ADDRESS, JAVA_LONG));
        resume = b.bind("cps_vm_resume", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG));
        stun = b.bind("cps_vm_stun", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG));
        harvest = b.bind("cps_vm_harvest", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG, ADDRESS, JAVA_LONG));
        stateMax = b.bind("cps_vm_state_max", FunctionDescriptor.of(JAVA_LONG, ADDRESS));
        saveState = b.bind("cps_vm_save_state", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG, ADDRESS, ADDRESS, JAVA_LONG));
        loadState = b.bind("cps_vm_load_state", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG, ADDRESS, JAVA_LONG));
        input = b.bind("cps_vm_input", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, JAVA_LONG));
        drainOutput = b.bind("cps_vm_drain_output", FunctionDescriptor.of(JAVA_LONG, ADDRESS, ADDRESS, JAVA_LONG));
        outputTime = b.bind("cps_vm_output_time", FunctionDescriptor.of(JAVA_LONG, ADDRESS, JAVA_LONG));
        awaitOutput = b.bind("cps_vm_await_output", FunctionDescriptor.of(JAVA_LONG, ADDRESS, JAVA_LONG, JAVA_LONG));
        wakeOutputWaiter = b.bind("cps_vm_wake_output_waiter", FunctionDescriptor.ofVoid(ADDRESS));
        drainConsole = b.bind("cps_vm_drain_console", FunctionDescriptor.of(JAVA_LONG, ADDRESS, ADDRESS, JAVA_LONG));
        check = b.bind("cps_vm_check", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG));
        protectProbe = b.bind("cps_vm_protect_probe", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG));
        protect = b.bind("cps_vm_protect", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG, ADDRESS, JAVA_LONG));
        protectedCopy = b.bind("cps_vm_protected_copy", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, ADDRESS, ADDRESS, JAVA_LONG));
        protectRelease = b.bind("cps_vm_protect_release", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG));
        cowFaults = b.bind("cps_vm_cow_faults", FunctionDescriptor.of(JAVA_LONG, ADDRESS));
        destroy = b.bind("cps_vm_destroy", FunctionDescriptor.ofVoid(ADDRESS));
        record = b.bind("cps_vm_record", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS, JAVA_LONG));
        drainEvents = b.bind("cps_vm_drain_events", FunctionDescriptor.of(JAVA_LONG, ADDRESS, ADDRESS, JAVA_LONG, ADDRESS));
        replay = b.bind("cps_vm_replay", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG, JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
        replayExtend = b.bind("cps_vm_replay_extend", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG, JAVA_LONG, ADDRESS, JAVA_LONG));
        rrStatus = b.bind("cps_vm_rr_status", FunctionDescriptor.ofVoid(ADDRESS, ADDRESS));
        waitReplayEnd = b.bind("cps_vm_wait_replay_end", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, ADDRESS, JAVA_LONG));
        xtraceOpen = b.bind("cps_vm_xtrace_open", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, JAVA_LONG));
        xtraceClose = b.bind("cps_vm_xtrace_close", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS, JAVA_LONG));
    }

    @FunctionalInterface
    private interface Binder {
        MethodHandle bind(String name, FunctionDescriptor descriptor);
    }

    private static final class Holder {
        static final KvmLibrary INSTANCE = load();
    }

    static KvmLibrary get() {
        try {
            return Holder.INSTANCE;
        } catch (ExceptionInInitializerError e) {
            throw new KvmException("cannot load the KVM shim: " + e.getCause().getMessage(), e.getCause());
        } catch (NoClassDefFoundError e) {
            throw new KvmException("cannot load the KVM shim (an earlier attempt failed; see the first error)", e);
        }
    }

    private static KvmLibrary load() {
        Path file;
        try (InputStream in = KvmLibrary.class.getResourceAsStream(RESOURCE)) {
            if (in == null) {
                throw new KvmException("resource " + RESOURCE + " is missing: the module was built without its native part");
            }
            file = Files.createTempFile("cpstream-kvm-", ".so",
                    PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
            file.toFile().deleteOnExit();
            Files.copy(in, file, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new UncheckedIOException("extracting the KVM shim failed", e);
        }
        return new KvmLibrary(SymbolLookup.libraryLookup(file, Arena.global()));
    }
}
