package io.cpstream.fuzz;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Properties;
import net.jqwik.api.lifecycle.AroundPropertyHook;
import net.jqwik.api.lifecycle.AroundTryHook;
import net.jqwik.api.lifecycle.PropertyExecutionResult;
import net.jqwik.api.lifecycle.PropertyExecutor;
import net.jqwik.api.lifecycle.PropertyLifecycleContext;
import net.jqwik.api.lifecycle.TryExecutionResult;
import net.jqwik.api.lifecycle.TryExecutor;
import net.jqwik.api.lifecycle.TryLifecycleContext;

/**
 * The time budget and the report of a fuzzing campaign ({@code cpstream fuzz}, Maven profile {@code fuzz}): jqwik has
 * a number of tries but no duration, so this hook ends each property once {@code cpstream.fuzz.seconds} have passed
 * since it started (the campaign sets the tries to their maximum), and writes what the property did, tries, checks,
 * seconds, status, seed and the failure, to {@code <cpstream.fuzz.report>/<class>#<method>.properties}.
 *
 * <p>Registered for every property through {@code META-INF/services} (only on the fuzz profile's test class path).
 * A falsified try switches the deadline off for the rest of that property: jqwik's shrinking runs through this hook
 * too and must finish, or the reported sample would not be the smallest.
 */
public final class FuzzBudget implements AroundPropertyHook, AroundTryHook {

    /** A hook from META-INF/services sits at the engine's root; it must reach every property below it. */
    @Override
    public net.jqwik.api.lifecycle.PropagationMode propagateTo() {
        return net.jqwik.api.lifecycle.PropagationMode.ALL_DESCENDANTS;
    }

    /** Per running property (jqwik runs one property per thread at a time): its deadline, or Long.MAX_VALUE. */
    private final ThreadLocal<long[]> deadline = ThreadLocal.withInitial(() -> new long[] {Long.MAX_VALUE});

    @Override
    public PropertyExecutionResult aroundProperty(PropertyLifecycleContext context, PropertyExecutor property) {
        long started = System.nanoTime();
        String seconds = System.getProperty("cpstream.fuzz.seconds");
        deadline.get()[0] = seconds == null ? Long.MAX_VALUE : started + (long) (Double.parseDouble(seconds) * 1e9);
        PropertyExecutionResult result;
        try {
            result = property.execute();
        } finally {
            deadline.get()[0] = Long.MAX_VALUE;
        }
        report(context, result, (System.nanoTime() - started) / 1e9);
        return result;
    }

    @Override
    public TryExecutionResult aroundTry(TryLifecycleContext context, TryExecutor aTry, List<Object> parameters) {
        TryExecutionResult result = aTry.execute(parameters);
        long[] end = deadline.get();
        if (result.isFalsified()) {
            end[0] = Long.MAX_VALUE;
            return result;
        }
        if (result.isSatisfied() && System.nanoTime() >= end[0]) {
            return TryExecutionResult.satisfied(true);
        }
        return result;
    }

    private static void report(PropertyLifecycleContext context, PropertyExecutionResult result, double seconds) {
        String dir = System.getProperty("cpstream.fuzz.report");
        if (dir == null) {
            return;
        }
        Properties out = new Properties();
        out.setProperty("class", context.containerClass().getName());
        out.setProperty("property", context.targetMethod().getName());
        out.setProperty("tries", Integer.toString(result.countTries()));
        out.setProperty("checks", Integer.toString(result.countChecks()));
        out.setProperty("seconds", String.format(java.util.Locale.ROOT, "%.1f", seconds));
        out.setProperty("status", result.status().name());
        result.seed().ifPresent(seed -> out.setProperty("seed", seed));
        result.throwable().ifPresent(failure -> out.setProperty("failure", firstLine(failure)));
        result.shrunkSample().ifPresent(sample -> out.setProperty("sample", truncated(java.util.Arrays.deepToString(sample.parameters().toArray()))));
        Path file = Path.of(dir, context.containerClass().getName() + "#" + context.targetMethod().getName()
                + ".properties");
        try {
            Files.createDirectories(file.getParent());
            try (OutputStream stream = Files.newOutputStream(file)) {
                out.store(stream, "cpstream fuzz: one property's campaign");
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the fuzz report " + file, e);
        }
    }

    private static String firstLine(Throwable failure) {
        String text = failure.getClass().getName() + ": " + failure.getMessage();
        int newline = text.indexOf('\n');
        return truncated(newline < 0 ? text : text.substring(0, newline));
    }

    private static String truncated(String text) {
        return text.length() <= 500 ? text : text.substring(0, 500) + "...";
    }
}
