package io.cpstream.harness.bench;

import io.cpstream.harness.HarnessException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * What a collector's standbys take on its disk, as the file system allocated it: the blocks of each file
 * ({@code st_blocks}, what {@code du} counts), never the apparent size, since a standby's image is a sparse file
 * whose holes (pages never written, zero pages, and with page sharing every page held in the shared store) take
 * nothing. Counted per kind: the standbys' images ({@code vms/<vm>/image.mem}), their page maps
 * ({@code shared.map}), journals ({@code journal.wal}, {@code events.journal}), the rest of their directories
 * (manifest, {@code commits.log}), and the shared page store ({@code shared/}); snapshots are not counted (they are what
 * a promotion writes, not what the standby holds).
 */
final class StoredBytes {

    private StoredBytes() {
    }

    /**
     * The allocated bytes of the standbys {@code vms} under {@code dataDir} and of its shared page store, by kind, in
     * bytes ({@code images_bytes}, {@code maps_bytes}, {@code journals_bytes}, {@code other_bytes},
     * {@code shared_store_bytes}, {@code total_bytes}).
     */
    static Map<String, Object> of(Path dataDir, List<String> vms) throws IOException, InterruptedException {
        List<Path> images = new ArrayList<>();
        List<Path> maps = new ArrayList<>();
        List<Path> journals = new ArrayList<>();
        List<Path> other = new ArrayList<>();
        for (String vm : vms) {
            Path dir = dataDir.resolve("vms").resolve(vm);
            try (Stream<Path> files = Files.list(dir)) {
                for (Path file : files.filter(Files::isRegularFile).toList()) {
                    String name = file.getFileName().toString();
                    (name.equals("image.mem") ? images : name.equals("shared.map") ? maps
                            : name.equals("journal.wal") || name.equals("events.journal") ? journals : other).add(file);
                }
            }
        }
        List<Path> store = new ArrayList<>();
        Path shared = dataDir.resolve("shared");
        if (Files.isDirectory(shared)) {
            try (Stream<Path> files = Files.walk(shared)) {
                files.filter(Files::isRegularFile).forEach(store::add);
            }
        }
        Map<String, Object> result = new LinkedHashMap<>();
        long total = 0;
        for (Map.Entry<String, List<Path>> kind : Map.of("images_bytes", images, "maps_bytes", maps,
                "journals_bytes", journals, "other_bytes", other, "shared_store_bytes", store).entrySet().stream()
                .sorted(Map.Entry.comparingByKey()).toList()) {
            long bytes = allocated(kind.getValue());
            result.put(kind.getKey(), bytes);
            total += bytes;
        }
        result.put("total_bytes", total);
        return result;
    }

    /**
     * The allocated bytes of {@code files}, summed: {@code stat}'s block count times its block unit (the JDK exposes
     * no st_blocks). One process for all of them.
     */
    private static long allocated(List<Path> files) throws IOException, InterruptedException {
        if (files.isEmpty()) {
            return 0;
        }
        List<String> command = new ArrayList<>(List.of("stat", "--format=%b %B", "--"));
        files.forEach(file -> command.add(file.toString()));
        Process stat = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(stat.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!stat.waitFor(30, TimeUnit.SECONDS) || stat.exitValue() != 0) {
            throw new HarnessException("stat of the collector's files failed: " + out.strip());
        }
        long bytes = 0;
        for (String line : out.strip().split("\n")) {
            String[] fields = line.trim().split(" ");
            bytes += Long.parseLong(fields[0]) * Long.parseLong(fields[1]);
        }
        return bytes;
    }
}
