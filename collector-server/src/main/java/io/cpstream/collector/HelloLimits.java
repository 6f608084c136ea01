package io.cpstream.collector;

import io.cpstream.proto.Hello;
import io.cpstream.proto.Limit;
import java.nio.charset.StandardCharsets;
import java.util.Map;

/** What a Hello may say before any standby is looked up or created: the protocol's limits and this collector's. */
final class HelloLimits {

    private HelloLimits() {
    }

    static void check(Hello hello, long maxGuestBytes) throws StandbyException {
        if (hello.getProtocolVersion() != StandbyRegistry.PROTOCOL_VERSION) {
            throw StandbyException.invalid("protocol version " + hello.getProtocolVersion() + " is not supported; this "
                    + "collector speaks " + StandbyRegistry.PROTOCOL_VERSION + " (run agent and collector of one release)");
        }
        String vm = hello.getVmId();
        if (!StandbyRegistry.VM_ID.matcher(vm).matches()) {
            throw StandbyException.invalid("vm id is not 1-" + Limit.MAX_VM_ID_BYTES_VALUE
                    + " characters of letters, digits, '.', '_' or '-'");
        }
        if (hello.getPageSize() != StandbyRegistry.PAGE_SIZE) {
            throw StandbyException.invalid("page size " + Integer.toUnsignedString(hello.getPageSize())
                    + " is not supported; use " + StandbyRegistry.PAGE_SIZE);
        }
        long maxPages = Math.min(Integer.MAX_VALUE, maxGuestBytes / StandbyRegistry.PAGE_SIZE);
        if (hello.getPageCount() < 1 || hello.getPageCount() > maxPages) {
            throw StandbyException.invalid("guest of " + Long.toUnsignedString(hello.getPageCount()) + " pages is "
                    + "outside what this collector accepts (1 to " + maxPages + " pages; see --max-guest-bytes)");
        }
        if (hello.getFencingEpoch() < 0 || hello.getFencingEpoch() == Long.MAX_VALUE) {
            // uint64 above 2^63-1 reads negative; 2^63-1 could never be raised by a promotion.
            throw StandbyException.invalid("fencing epoch " + Long.toUnsignedString(hello.getFencingEpoch())
                    + " is out of range (below " + Long.MAX_VALUE + ")");
        }
        label("agent id", hello.getAgentId());
        label("lineage", hello.getLineage());
        label("source kind", hello.getSource().getKind());
        Map<String, String> params = hello.getSource().getParamsMap();
        if (params.size() > Limit.MAX_SOURCE_PARAMS_VALUE) {
            throw StandbyException.invalid(params.size() + " source parameters exceed " + Limit.MAX_SOURCE_PARAMS_VALUE);
        }
        for (Map.Entry<String, String> param : params.entrySet()) {
            label("a source parameter's name", param.getKey());
            label("source parameter " + (param.getKey().length() <= 32 ? param.getKey() : "(long name)"), param.getValue());
        }
    }

    private static void label(String what, String value) throws StandbyException {
        if (value.getBytes(StandardCharsets.UTF_8).length > Limit.MAX_LABEL_BYTES_VALUE) {
            throw StandbyException.invalid(what + " is longer than " + Limit.MAX_LABEL_BYTES_VALUE + " bytes");
        }
    }
}
