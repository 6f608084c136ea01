package io.cpstream.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code ./cpstream}: one launcher for the daemons, the operator's commands, the demo and the benchmarks. */
@Command(name = "cpstream", mixinStandardHelpOptions = true, version = "cpstream 0.1.0",
        description = "Checkpoint streaming for fault-tolerant virtual machines.",
        subcommands = {DemoCommand.class, CollectorCommand.class, AgentCommand.class, StatusCommand.class,
                PromoteCommand.class, DeleteCommand.class, RunCommand.class, SinkCommand.class, ChaosCommand.class, BenchCommand.class, FuzzCommand.class,
                TraceCommand.class, ReplayCommand.class, PkiCommand.class, CommandLine.HelpCommand.class})
public final class Main implements Runnable {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    public static void main(String[] args) {
        LogFormat.install();
        System.exit(run(args));
    }

    /** Runs a command line and returns its exit code: 0 done, 1 failed, 2 bad usage. */
    public static int run(String... args) {
        CommandLine commandLine = new CommandLine(new Main());
        commandLine.setExecutionExceptionHandler((exception, line, parseResult) -> {
            line.getErr().println("cpstream " + line.getCommandName() + ": " + Errors.describe(exception));
            return 1;
        });
        try {
            ConfigFile.install(commandLine, new CommandLine(new Main()), args);
        } catch (ConfigFile.InvalidConfig e) {
            // Exit 2 like any usage error; the units keep systemd from restarting on it.
            commandLine.getErr().println("cpstream " + (args.length > 0 ? args[0] : "") + ": " + e.getMessage());
            return 2;
        }
        return commandLine.execute(args);
    }

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }
}
