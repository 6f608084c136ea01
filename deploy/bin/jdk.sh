# Sourced by ./mvnw and ./cpstream: finds a JDK 25 (or newer) and exports JAVA_HOME.
# Order: $JAVA_HOME if it is new enough, then JDKs under /usr/lib/jvm, then `java` on PATH.
# Nobody has to set JAVA_HOME by hand on a machine where the default java is older.

cpstream_java_major() {
  "$1/bin/java" -XshowSettings:properties -version 2>&1 |
    sed -n 's/^ *java\.specification\.version = \([0-9]*\).*/\1/p' | head -n 1
}

cpstream_find_jdk() {
  local candidate major
  local -a candidates=()
  [ -n "${JAVA_HOME:-}" ] && candidates+=("$JAVA_HOME")
  for candidate in /usr/lib/jvm/temurin-25* /usr/lib/jvm/*-25-* /usr/lib/jvm/*25* /usr/lib/jvm/*; do
    [ -d "$candidate" ] && candidates+=("$candidate")
  done
  if command -v java >/dev/null 2>&1; then
    candidates+=("$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")")
  fi
  for candidate in "${candidates[@]}"; do
    [ -x "$candidate/bin/java" ] && [ -x "$candidate/bin/javac" ] || continue
    major="$(cpstream_java_major "$candidate")"
    if [ -n "$major" ] && [ "$major" -ge 25 ]; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

if ! JAVA_HOME="$(cpstream_find_jdk)"; then
  echo "cpstream: no JDK 25 or newer found (looked at \$JAVA_HOME, /usr/lib/jvm/* and java on PATH)." >&2
  echo "cpstream: install one, e.g. 'apt-get install temurin-25-jdk', or point JAVA_HOME at it." >&2
  exit 1
fi
export JAVA_HOME
export PATH="$JAVA_HOME/bin:$PATH"

# How both launchers run the JVM (pom.xml's cpstream.jvm.args repeats it for tests and tools).
# ZGC: collector pauses well under a millisecond, which would otherwise land inside stuns.
# CompileThresholdScaling for cpstream's own classes: the stun path (harvest, plan, output capture,
# staging, protection) runs only 5-100 times a second, so at the default thresholds it stayed in the
# interpreter or C1 for minutes and its bookkeeping cost tens of microseconds per stun instead of one
# or two. Compiling our classes 20 times sooner costs a little more JIT work in the first seconds.
# The classes whose methods run once per stun get 200 times sooner: at 20 stuns a second the 20-times
# rule still left them in C1 for 12-37 s, and again after every deoptimization (a switch of split, a
# first protected page), which in those seconds made a stun twice as long.
# shellcheck disable=SC2034 # used by the scripts that source this one
CPSTREAM_JVM_FLAGS=(--enable-native-access=ALL-UNNAMED -XX:+UseZGC -XX:CompileCommand=quiet
  "-XX:CompileCommand=CompileThresholdScaling,io/cpstream/*.*,0.05")
# Netty's buffer leak detector samples one allocation in 128 and records a stack trace for it: 1-2% of
# the I/O threads at capacity (Throwable.fillInStackTrace in the profile). Off for the daemons; the test
# suite (pom.xml's cpstream.jvm.args) keeps it on, which is where a leak would be found.
CPSTREAM_JVM_FLAGS+=(-Dio.grpc.netty.shaded.io.netty.leakDetection.level=disabled)
for per_stun in tracker/ agent/EpochLoop agent/ReplicationState agent/OutputGate agent/PageHistory \
    agent/Staging agent/CheckpointPlan; do
  CPSTREAM_JVM_FLAGS+=("-XX:CompileCommand=CompileThresholdScaling,io/cpstream/${per_stun}*.*,0.005")
done

# The heap of the long-running commands is sized, faulted in and kept from the start. A first touch of
# fresh memory costs about 9.4 us per 4 KiB page on these virtualised hosts (a C loop over a fresh
# mapping; reused memory is written at 25 GB/s), and ZGC grows its heap for as long as the allocation
# rate is high: at the default bench (about 65 MB/s of received messages) the collector kept touching
# new heap for minutes, and those faults, charged to its receive path and to stuns, held it to 40-56
# checkpoints/s with lag p99 of 0.4-0.7 s. With the heap pre-touched (AlwaysPreTouch), held to a soft
# bound (SoftMaxHeapSize; -Xmx stays larger, so a burst slows down rather than fails) and never handed
# back (-ZUncommit), the same bench ran 90-94 checkpoints/s with lag p99 72-88 ms. Pre-touching costs
# about a second at start. CPSTREAM_HEAP sets the size (a -Xmx or -Xms in CPSTREAM_JAVA_OPTS, which
# comes later on the command line, still wins); short commands (status, promote, ...) are left alone.
# No proactive GC cycles (-ZProactive): they exist to shrink a heap that is idle, which a heap kept
# whole never is. At the stun comparison's load they were a major collection every 4-5 s, each 40-70 ms
# of concurrent marking and relocating beside the stuns (ZGC's barriers take their slow paths while one
# runs): 1.5% of the time, as many stuns as make a p99. Without them ZGC still collects, when the heap
# fills (a minor collection of about 11 ms every 9 s at that load).
cpstream_heap_flags() {
  local heap
  case "${1:-}" in
    collector|bench|demo|chaos|sink|run) heap="${CPSTREAM_HEAP:-1g}" ;;
    agent) heap="${CPSTREAM_HEAP:-256m}" ;;
    *) return 0 ;;
  esac
  if [[ ! $heap =~ ^[1-9][0-9]*[kKmMgGtT]?$ ]]; then
    echo "cpstream: CPSTREAM_HEAP='$heap' is not a heap size; give bytes with an optional k, m, g or t suffix (e.g. 2g)" >&2
    exit 2
  fi
  case " ${CPSTREAM_JAVA_OPTS:-} " in
    *" -Xms"* | *" -Xmx"*) ;; # sized by the operator: an -Xms above their -Xmx would not start
    *) CPSTREAM_JVM_FLAGS+=("-Xms$heap" "-XX:SoftMaxHeapSize=$heap") ;;
  esac
  CPSTREAM_JVM_FLAGS+=(-XX:+AlwaysPreTouch -XX:-ZUncommit -XX:-ZProactive)
}
