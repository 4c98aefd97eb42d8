"""Flink's memory model, derived exactly as Flink's own `BashJavaUtils` derives it — without a JVM.

Why: a TaskManager/JobManager whose memory options contradict each other only fails when its pod
starts; deriving the sizes here finds the problem (and the suspicious-but-valid cases) at plan time.

This is a port of `ProcessMemoryUtils`, `TaskExecutorFlinkMemoryUtils`, `JobManagerFlinkMemoryUtils`,
`TaskExecutorProcessUtils`/`JobManagerProcessUtils` (incl. `generateDynamicConfigsStr`) and, for
1.x, `MemoryBackwardsCompatibilityUtils` and the legacy network-buffer path, read from the class
files of Flink 1.15.2 and 2.3.0. The control flow is kept (options are read lazily, in Flink's
order) so that the same configurations fail; arithmetic is Java's: `long` bytes, `addExact`
overflow, `MemorySize.multiply` = BigDecimal(bytes) × BigDecimal.valueOf(double) truncated, float
fractions widened to double. Semantics equal "BashJavaUtils with an empty config dir + these -D".

Per-version rules (`VersionRules`): the default of `taskmanager.memory.network.max` is 1g up to
1.16 and Long.MAX from 1.17 (FLINK-30472, FLIP-266); the legacy keys `taskmanager.heap.size|mb`,
`jobmanager.heap.size|mb` and `taskmanager.network.numberOfBuffers` exist up to 1.20 and were
removed in 2.0 (FLINK-33750); the 1.x TaskManager maps `taskmanager.heap.*` to
`taskmanager.memory.flink.size`, the JobManager `jobmanager.heap.*` to `jobmanager.memory.heap.size`,
and 1.x prefixes JobManager errors with "JobManager memory configuration failed: ". Assumed, not
checkable here: `external-resources: [a, b]` (a YAML list) is read as a list from 2.0 on. Not
modelled: the `FLINK_TM_HEAP` / `FLINK_JM_HEAP` environment variables 1.x also reads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, Context, Decimal
from functools import cache, lru_cache

from flink_k8s.core.memory_size import (
    LONG_MAX,
    human_readable,
    java_double_to_string,
    java_hashmap_order,
    java_parse_bool,
    java_parse_double,
    java_parse_float,
    java_parse_int,
    parse_memory_size,
)

SUPPORTED_VERSIONS = ("1.15", "1.16", "1.17", "1.18", "1.19", "1.20", "2.0", "2.1", "2.2", "2.3")
DEFAULT_VERSION = "2.3"
MIB = 1 << 20
GIB = 1 << 30
JM_MIN_RECOMMENDED_HEAP = 128 * MIB  # JobManagerOptions.MIN_JVM_HEAP_SIZE (Flink logs a WARN below it)
JM_WARN_HEAP = 256 * MIB
TM_WARN_TASK_HEAP = 128 * MIB
PREFIX = "BASH_JAVA_UTILS_EXEC_RESULT:"
_WIDE = Context(prec=1000)


class MemoryConfigError(ValueError):
    """Flink would refuse to start with this memory configuration; the message names the rule."""


class _Illegal(MemoryConfigError):
    """Flink's IllegalConfigurationException (the kind Flink wraps with a 'memory configuration failed' prefix)."""


# ----------------------------------------------------------------------------- options


@dataclass(frozen=True)
class Option:
    """A ConfigOption: key, deprecated/fallback keys (checked in order after the key), default."""

    key: str
    fallback: tuple[str, ...] = ()
    default: object = None


@dataclass(frozen=True)
class VersionRules:
    """What differs between Flink minors for the memory model."""

    version: str
    network_max_default: int
    legacy_options: bool  # taskmanager/jobmanager.heap.size|mb, taskmanager.network.numberOfBuffers


@cache
def rules_for(version: str) -> VersionRules:
    """Rules of a supported minor ('1.15' … '2.3'); MemoryConfigError for anything else."""
    if version not in SUPPORTED_VERSIONS:
        raise MemoryConfigError(
            f"flink_version {version!r} is not supported: expected one of {', '.join(SUPPORTED_VERSIONS)}"
        )
    major, minor = (int(p) for p in version.split("."))
    return VersionRules(
        version=version,
        network_max_default=GIB if (major, minor) < (1, 17) else LONG_MAX,
        legacy_options=major < 2,
    )


def _m(text: str) -> int:
    return parse_memory_size(text)


# TaskManager
TM_PROCESS = Option("taskmanager.memory.process.size")
TM_FLINK = Option("taskmanager.memory.flink.size")
TM_FW_HEAP = Option("taskmanager.memory.framework.heap.size", default=_m("128m"))
TM_FW_OFF = Option("taskmanager.memory.framework.off-heap.size", default=_m("128m"))
TM_TASK_HEAP = Option("taskmanager.memory.task.heap.size")
TM_TASK_OFF = Option("taskmanager.memory.task.off-heap.size", default=0)
TM_MANAGED = Option("taskmanager.memory.managed.size", ("taskmanager.memory.size",))
TM_MANAGED_FRACTION = Option("taskmanager.memory.managed.fraction", default=java_parse_float("0.4"))
TM_NET_MIN = Option("taskmanager.memory.network.min", ("taskmanager.network.memory.min",), _m("64m"))
TM_NET_MAX = Option("taskmanager.memory.network.max", ("taskmanager.network.memory.max",))  # default per version
TM_NET_FRACTION = Option(
    "taskmanager.memory.network.fraction", ("taskmanager.network.memory.fraction",), java_parse_float("0.1")
)
TM_METASPACE = Option("taskmanager.memory.jvm-metaspace.size", default=_m("256m"))
TM_OVERHEAD_MIN = Option("taskmanager.memory.jvm-overhead.min", default=_m("192m"))
TM_OVERHEAD_MAX = Option("taskmanager.memory.jvm-overhead.max", default=_m("1g"))
TM_OVERHEAD_FRACTION = Option("taskmanager.memory.jvm-overhead.fraction", default=java_parse_float("0.1"))
TM_CPU = Option("taskmanager.cpu.cores")
TM_SLOTS = Option("taskmanager.numberOfTaskSlots", default=1)
TM_SEGMENT = Option("taskmanager.memory.segment-size", default=_m("32kb"))
TM_LEGACY_HEAP = Option("taskmanager.heap.size")
TM_LEGACY_HEAP_MB = Option("taskmanager.heap.mb")
TM_LEGACY_BUFFERS = Option("taskmanager.network.numberOfBuffers", default=2048)
EXTERNAL_RESOURCES = Option("external-resources")

# JobManager
JM_PROCESS = Option("jobmanager.memory.process.size")
JM_FLINK = Option("jobmanager.memory.flink.size")
JM_HEAP = Option("jobmanager.memory.heap.size")
JM_OFF = Option("jobmanager.memory.off-heap.size", default=128 * MIB)
JM_DIRECT_LIMIT = Option("jobmanager.memory.enable-jvm-direct-memory-limit", default=False)
JM_METASPACE = Option("jobmanager.memory.jvm-metaspace.size", default=256 * MIB)
JM_OVERHEAD_MIN = Option("jobmanager.memory.jvm-overhead.min", default=192 * MIB)
JM_OVERHEAD_MAX = Option("jobmanager.memory.jvm-overhead.max", default=_m("1g"))
JM_OVERHEAD_FRACTION = Option("jobmanager.memory.jvm-overhead.fraction", default=java_parse_float("0.1"))
JM_LEGACY_HEAP = Option("jobmanager.heap.size")
JM_LEGACY_HEAP_MB = Option("jobmanager.heap.mb")


@dataclass(frozen=True)
class _ProcessOptions:
    """ProcessMemoryOptions: what ProcessMemoryUtils needs to know about one process type."""

    fine_grained: tuple[Option, ...]
    total_flink: Option
    total_process: Option
    metaspace: Option
    overhead_min: Option
    overhead_max: Option
    overhead_fraction: Option


_TM_OPTIONS = _ProcessOptions(
    (TM_TASK_HEAP, TM_MANAGED), TM_FLINK, TM_PROCESS, TM_METASPACE, TM_OVERHEAD_MIN, TM_OVERHEAD_MAX, TM_OVERHEAD_FRACTION
)
_JM_OPTIONS = _ProcessOptions(
    (JM_HEAP,), JM_FLINK, JM_PROCESS, JM_METASPACE, JM_OVERHEAD_MIN, JM_OVERHEAD_MAX, JM_OVERHEAD_FRACTION
)


# ----------------------------------------------------------------------------- configuration view


class _Conf:
    """Read-only view with Flink's `Configuration.contains/get` semantics over raw string values."""

    __slots__ = ("raw", "rules", "overrides", "memo")

    def __init__(self, raw: Mapping[str, str], rules: VersionRules) -> None:
        self.raw = raw
        self.rules = rules
        self.overrides: dict[str, int] = {}
        self.memo: dict[str, int] = {}  # Flink re-reads some options; values cannot change meanwhile

    def _find(self, opt: Option) -> str | None:
        raw = self.raw
        if opt.key in raw:
            return opt.key
        for key in opt.fallback:
            if key in raw:
                return key
        return None

    def contains(self, opt: Option) -> bool:
        raw = self.raw
        if opt.key in raw or opt.key in self.overrides:
            return True
        for key in opt.fallback:
            if key in raw:
                return True
        return False

    def _default(self, opt: Option) -> object:
        return self.rules.network_max_default if opt is TM_NET_MAX else opt.default

    def memory(self, opt: Option) -> int:
        """ProcessMemoryUtils.getMemorySizeFromConfig: any failure -> IllegalConfigurationException."""
        value = self.memo.get(opt.key)
        if value is None:
            value = self.memo[opt.key] = self._memory(opt)
        return value

    def _memory(self, opt: Option) -> int:
        raw = self.raw
        key = opt.key if opt.key in raw else self._find(opt)
        if key is None:
            if opt.key in self.overrides:
                return self.overrides[opt.key]
            default = self._default(opt)
            if default is None:
                raise _Illegal(
                    f"Cannot read memory size from config option '{opt.key}': "
                    "The memory option is not set and has no default value."
                )
            return default  # type: ignore[return-value]
        try:
            return parse_memory_size(raw[key])
        except ValueError as exc:
            raise _Illegal(
                f"Cannot read memory size from config option '{opt.key}' (value {raw[key]!r}): {exc}"
            ) from None

    def typed(self, opt: Option, convert: Callable[[str], object]) -> object:
        """Configuration.get for non-memory types: parse failures are IllegalArgumentException."""
        key = self._find(opt)
        if key is None:
            return self._default(opt)
        try:
            return convert(self.raw[key])
        except ValueError as exc:
            raise MemoryConfigError(f"Could not parse value '{self.raw[key]}' for key '{key}': {exc}") from None


# ----------------------------------------------------------------------------- Java arithmetic


def _add(*sizes: int) -> int:
    """Math.addExact over non-negative longs: overflows iff the exact sum exceeds Long.MAX."""
    total = sum(sizes)
    if total > LONG_MAX:
        raise MemoryConfigError("long overflow: memory sizes add up to more than 2^63-1 bytes")
    return total


@lru_cache(maxsize=1024)
def _decimal_of(multiplier: float) -> tuple[int, int]:
    """BigDecimal.valueOf(double) as (unscaled, scale): value = unscaled / 10**scale."""
    _, digits, exp = Decimal(repr(multiplier)).as_tuple()
    unscaled = int("".join(map(str, digits)))
    exp = int(exp)
    return (unscaled, -exp) if exp < 0 else (unscaled * 10**exp, 0)


def _multiply(size: int, multiplier: float) -> int:
    """MemorySize.multiply: exact decimal product, 'long overflow' above Long.MAX, truncated."""
    if multiplier < 0:
        raise MemoryConfigError("multiplier must be >= 0")
    if multiplier != multiplier or multiplier == float("inf"):
        raise MemoryConfigError(f"multiplier {multiplier} is not a finite number")
    unscaled, scale = _decimal_of(multiplier)
    product = size * unscaled
    divisor: int = 10**scale  # scale >= 0
    if product > LONG_MAX * divisor:
        raise MemoryConfigError("long overflow: a fraction-derived memory size exceeds 2^63-1 bytes")
    return product // divisor


@dataclass(frozen=True, slots=True)
class _Range:
    min: int
    max: int
    fraction: float


def _range(conf: _Conf, min_size: int, max_size: int, fraction_opt: Option) -> _Range:
    fraction = conf.typed(fraction_opt, java_parse_float)
    assert isinstance(fraction, float)
    if min_size > max_size or not 0.0 <= fraction < 1.0:
        rule = "min value must be less or equal to max value" if min_size > max_size else "fraction must be in range [0, 1)"
        raise _Illegal(
            f"Inconsistently configured {fraction_opt.key} ({java_double_to_string(fraction)}) and its min "
            f"({human_readable(min_size)}), max ({human_readable(max_size)}) value: {rule}"
        )
    return _Range(min_size, max_size, fraction)


def _cap(relative: int, rng: _Range) -> tuple[int, str | None]:
    if relative > rng.max:
        return rng.max, "max"
    if relative < rng.min:
        return rng.min, "min"
    return relative, None


class _Trace:
    """Non-fatal observations made during derivation (which clamps applied)."""

    __slots__ = ("clamps",)

    def __init__(self) -> None:
        self.clamps: dict[str, str] = {}


def _with_fraction(what: str, base: int, rng: _Range, trace: _Trace) -> int:
    size, clamp = _cap(_multiply(base, rng.fraction), rng)
    if clamp:
        trace.clamps[what] = clamp
    return size


def _with_inverse_fraction(what: str, base: int, rng: _Range, trace: _Trace) -> int:
    size, clamp = _cap(_multiply(base, rng.fraction / (1 - rng.fraction)), rng)
    if clamp:
        trace.clamps[what] = clamp
    return size


# ----------------------------------------------------------------------------- ProcessMemoryUtils

hr = human_readable


def _overhead_range(conf: _Conf, opts: _ProcessOptions) -> _Range:
    return _range(conf, conf.memory(opts.overhead_min), conf.memory(opts.overhead_max), opts.overhead_fraction)


def _overhead_from_process(conf: _Conf, opts: _ProcessOptions, process: int, trace: _Trace) -> tuple[int, int]:
    """deriveJvmMetaspaceAndOverheadWithTotalProcessMemory -> (metaspace, overhead)."""
    metaspace = conf.memory(opts.metaspace)
    overhead = _with_fraction("jvm overhead", process, _overhead_range(conf, opts), trace)
    if _add(metaspace, overhead) > process:
        raise _Illegal(
            f"Sum of configured JVM Metaspace ({hr(metaspace)}) and JVM Overhead ({hr(overhead)}) "
            f"exceed configured Total Process Memory ({hr(process)})."
        )
    return metaspace, overhead


def _overhead_from_flink(conf: _Conf, opts: _ProcessOptions, total_flink: int, trace: _Trace) -> tuple[int, int]:
    """deriveJvmMetaspaceAndOverheadFromTotalFlinkMemory -> (metaspace, overhead)."""
    metaspace = conf.memory(opts.metaspace)
    flink_and_metaspace = _add(total_flink, metaspace)
    if conf.contains(opts.total_process):
        process = conf.memory(opts.total_process)
        metaspace = conf.memory(opts.metaspace)
        flink_and_metaspace = _add(total_flink, metaspace)
        if process < flink_and_metaspace:
            raise _Illegal(
                f"The configured Total Process Memory size ({hr(process)}) is less than the sum of the derived "
                f"Total Flink Memory size ({hr(total_flink)}) and the configured or default JVM Metaspace size "
                f"({hr(metaspace)})."
            )
        overhead = process - flink_and_metaspace
        rng = _overhead_range(conf, opts)
        if overhead > rng.max or overhead < rng.min:
            raise _Illegal(
                f"Derived JVM Overhead size ({hr(overhead)}) is not in configured JVM Overhead range "
                f"[{hr(rng.min)}, {hr(rng.max)}]."
            )
        return metaspace, overhead
    overhead = _with_inverse_fraction("jvm overhead", flink_and_metaspace, _overhead_range(conf, opts), trace)
    _add(total_flink, metaspace, overhead)  # sanityCheckTotalProcessMemory computes this sum
    return metaspace, overhead


def _process_spec(
    conf: _Conf, opts: _ProcessOptions, flink_utils: _FlinkUtils, trace: _Trace
) -> tuple[tuple[int, ...], int, int]:
    """memoryProcessSpecFromConfig -> (flink components, metaspace, overhead)."""
    if all(conf.contains(opt) for opt in opts.fine_grained):
        flink = flink_utils.from_fine_grained(conf, trace)
        metaspace, overhead = _overhead_from_flink(conf, opts, flink_utils.total(flink), trace)
    elif conf.contains(opts.total_flink):
        total_flink = conf.memory(opts.total_flink)
        flink = flink_utils.from_total_flink(conf, total_flink, trace)
        metaspace, overhead = _overhead_from_flink(conf, opts, total_flink, trace)
    elif conf.contains(opts.total_process):
        process = conf.memory(opts.total_process)
        metaspace, overhead = _overhead_from_process(conf, opts, process, trace)
        flink = flink_utils.from_total_flink(conf, process - (metaspace + overhead), trace)
    else:
        raise _Illegal(
            "Either required fine-grained memory ("
            + " and ".join(opt.key for opt in opts.fine_grained)
            + f"), or Total Flink Memory size ({opts.total_flink.key}), or Total Process Memory size "
            f"({opts.total_process.key}) need to be configured explicitly."
        )
    return flink, metaspace, overhead


class _FlinkUtils:
    """FlinkMemoryUtils: derives the Flink-memory components of one process type."""

    def from_fine_grained(self, conf: _Conf, trace: _Trace) -> tuple[int, ...]:
        raise NotImplementedError

    def from_total_flink(self, conf: _Conf, total_flink: int, trace: _Trace) -> tuple[int, ...]:
        raise NotImplementedError

    def total(self, flink: tuple[int, ...]) -> int:
        return _add(*flink)


# ----------------------------------------------------------------------------- TaskManager


class _TaskManagerUtils(_FlinkUtils):
    """TaskExecutorFlinkMemoryUtils; components = (fw heap, fw off-heap, task heap, task off-heap, network, managed)."""

    @staticmethod
    def _legacy_network(conf: _Conf) -> bool:
        if not conf.rules.legacy_options:
            return False
        any_network = conf.contains(TM_NET_MIN) or conf.contains(TM_NET_MAX) or conf.contains(TM_NET_FRACTION)
        return not any_network and conf.contains(TM_LEGACY_BUFFERS)

    @staticmethod
    def _legacy_network_size(conf: _Conf) -> int:
        buffers = conf.typed(TM_LEGACY_BUFFERS, java_parse_int)
        assert isinstance(buffers, int)
        page = conf.typed(TM_SEGMENT, parse_memory_size)
        assert isinstance(page, int)
        if page >= 1 << 31:
            raise MemoryConfigError(f"taskmanager.memory.segment-size {page} does not fit an int (integer overflow)")
        if page < 4096:
            raise _Illegal(f"Invalid configuration value for taskmanager.memory.segment-size : {page} - Minimum memory segment size is 4096")
        if page & (page - 1):
            raise _Illegal(f"Invalid configuration value for taskmanager.memory.segment-size : {page} - Memory segment size must be a power of 2.")
        size = buffers * page
        if size < 0:
            raise MemoryConfigError(f"taskmanager.network.numberOfBuffers {buffers} gives a negative network size: bytes must be >= 0")
        return size

    @staticmethod
    def _network_range(conf: _Conf) -> _Range:
        return _range(conf, conf.memory(TM_NET_MIN), conf.memory(TM_NET_MAX), TM_NET_FRACTION)

    @staticmethod
    def _managed(conf: _Conf, base: int, trace: _Trace) -> int:
        if conf.contains(TM_MANAGED):
            return conf.memory(TM_MANAGED)
        rng = _range(conf, 0, LONG_MAX, TM_MANAGED_FRACTION)
        return _with_fraction("managed", base, rng, trace)

    def _check_network(self, conf: _Conf, network: int) -> None:
        """sanityCheckNetworkMemoryWithExplicitlySetTotalFlinkAndHeapMemory."""
        lead = (
            "If Total Flink, Task Heap and (or) Managed Memory sizes are explicitly configured then the Network "
            "Memory size is the rest of the Total Flink memory after subtracting all other configured types of "
            "memory, but the derived Network Memory is inconsistent with its configuration: "
        )
        if self._legacy_network(conf):
            configured = self._legacy_network_size(conf)
            if configured != network:
                raise _Illegal(
                    lead + f"Derived Network Memory size ({hr(network)}) does not match configured Network Memory "
                    f"size ({hr(configured)})."
                )
            return
        try:
            rng = self._network_range(conf)
        except _Illegal as exc:
            raise _Illegal(lead + str(exc)) from None
        if network > rng.max or network < rng.min:
            raise _Illegal(
                lead + f"Derived Network Memory size ({hr(network)}) is not in configured Network Memory range "
                f"[{hr(rng.min)}, {hr(rng.max)}]."
            )

    @staticmethod
    def _exceeds(parts: list[tuple[str, int]], total_flink: int) -> _Illegal:
        listed = ", ".join(f"{name} ({hr(size)})" for name, size in parts[:-1])
        name, size = parts[-1]
        return _Illegal(
            f"Sum of configured {listed} and {name} ({hr(size)}) exceed configured Total Flink Memory ({hr(total_flink)})."
        )

    def _check_total(self, conf: _Conf, flink: tuple[int, ...]) -> None:
        total = self.total(flink)
        if conf.contains(TM_FLINK):
            configured = conf.memory(TM_FLINK)
            if configured != total:
                fw_heap, fw_off, task_heap, task_off, network, managed = flink
                raise _Illegal(
                    f"Configured and Derived Flink internal memory sizes (total {hr(total)}) do not add up to the "
                    f"configured Total Flink Memory size ({hr(configured)}). Configured and Derived Flink internal "
                    f"memory sizes are: Framework Heap Memory ({hr(fw_heap)}), Framework Off-Heap Memory "
                    f"({hr(fw_off)}), Task Heap Memory ({hr(task_heap)}), Task Off-Heap Memory ({hr(task_off)}), "
                    f"Network Memory ({hr(network)}), Managed Memory ({hr(managed)})."
                )

    def from_fine_grained(self, conf: _Conf, trace: _Trace) -> tuple[int, ...]:
        task_heap = conf.memory(TM_TASK_HEAP)
        managed = conf.memory(TM_MANAGED)
        fw_heap = conf.memory(TM_FW_HEAP)
        fw_off = conf.memory(TM_FW_OFF)
        task_off = conf.memory(TM_TASK_OFF)
        excl_network = _add(fw_heap, fw_off, task_heap, task_off, managed)
        if conf.contains(TM_FLINK):
            total_flink = conf.memory(TM_FLINK)
            if excl_network > total_flink:
                raise self._exceeds(
                    [("Framework Heap Memory", fw_heap), ("Framework Off-Heap Memory", fw_off),
                     ("Task Heap Memory", task_heap), ("Task Off-Heap Memory", task_off), ("Managed Memory", managed)],
                    total_flink,
                )
            network = total_flink - excl_network
            self._check_network(conf, network)
        elif self._legacy_network(conf):
            network = self._legacy_network_size(conf)
        else:
            network = _with_inverse_fraction("network", excl_network, self._network_range(conf), trace)
        flink = (fw_heap, fw_off, task_heap, task_off, network, managed)
        self._check_total(conf, flink)
        return flink

    def from_total_flink(self, conf: _Conf, total_flink: int, trace: _Trace) -> tuple[int, ...]:
        fw_heap = conf.memory(TM_FW_HEAP)
        fw_off = conf.memory(TM_FW_OFF)
        task_off = conf.memory(TM_TASK_OFF)
        if conf.contains(TM_TASK_HEAP):
            task_heap = conf.memory(TM_TASK_HEAP)
            managed = self._managed(conf, total_flink, trace)
            excl_network = _add(fw_heap, fw_off, task_heap, task_off, managed)
            if excl_network > total_flink:
                raise self._exceeds(
                    [("Framework Heap Memory", fw_heap), ("Framework Off-Heap Memory", fw_off),
                     ("Task Heap Memory", task_heap), ("Task Off-Heap Memory", task_off), ("Managed Memory", managed)],
                    total_flink,
                )
            network = total_flink - excl_network
            self._check_network(conf, network)
        else:
            managed = self._managed(conf, total_flink, trace)
            if self._legacy_network(conf):
                network = self._legacy_network_size(conf)
            else:
                network = _with_fraction("network", total_flink, self._network_range(conf), trace)
            excl_heap = _add(fw_heap, fw_off, task_off, managed, network)
            if excl_heap > total_flink:
                raise self._exceeds(
                    [("Framework Heap Memory", fw_heap), ("Framework Off-Heap Memory", fw_off),
                     ("Task Off-Heap Memory", task_off), ("Managed Memory", managed), ("Network Memory", network)],
                    total_flink,
                )
            task_heap = total_flink - excl_heap
        flink = (fw_heap, fw_off, task_heap, task_off, network, managed)
        self._check_total(conf, flink)
        return flink


# ----------------------------------------------------------------------------- JobManager


class _JobManagerUtils(_FlinkUtils):
    """JobManagerFlinkMemoryUtils; components = (jvm heap, off-heap)."""

    def from_fine_grained(self, conf: _Conf, trace: _Trace) -> tuple[int, ...]:
        heap = conf.memory(JM_HEAP)
        off = conf.memory(JM_OFF)
        if conf.contains(JM_FLINK):
            total_flink = conf.memory(JM_FLINK)
            if conf.contains(JM_OFF):
                if _add(heap, off) != total_flink:
                    raise _Illegal(
                        f"Sum of the configured JVM Heap Memory ({hr(heap)}) and the configured Off-heap Memory "
                        f"({hr(off)}) does not match the configured Total Flink Memory ({hr(total_flink)}). Please, "
                        "make the configuration consistent or configure only one option: either JVM Heap or Total "
                        "Flink Memory."
                    )
            else:
                if total_flink < heap:
                    raise _Illegal(
                        f"The configured JVM Heap Memory ({hr(heap)}) exceeds the configured Total Flink Memory "
                        f"({hr(total_flink)}). Please, make the configuration consistent or configure only one "
                        "option: either JVM Heap or Total Flink Memory."
                    )
                off = total_flink - heap
        return heap, off

    def from_total_flink(self, conf: _Conf, total_flink: int, trace: _Trace) -> tuple[int, ...]:
        off = conf.memory(JM_OFF)
        if total_flink <= off:
            raise _Illegal(
                f"The configured Total Flink Memory ({hr(total_flink)}) is less than the configured Off-heap "
                f"Memory ({hr(off)})."
            )
        return total_flink - off, off


_TM_UTILS = _TaskManagerUtils()
_JM_UTILS = _JobManagerUtils()


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True)
class TaskManagerMemory:
    """Every TaskManager memory component in bytes, plus what BashJavaUtils prints for it."""

    flink_version: str
    total_process: int
    total_flink: int
    framework_heap: int
    task_heap: int
    framework_off_heap: int
    task_off_heap: int
    network: int
    managed: int
    jvm_metaspace: int
    jvm_overhead: int
    cpu_cores: str
    num_slots: int
    jvm_heap: int
    jvm_direct: int
    jvm_args: str
    dynamic_configs: tuple[tuple[str, str], ...]
    warnings: tuple[str, ...]

    def bashjavautils_lines(self) -> tuple[str, str]:
        """The two result lines BashJavaUtils GET_TM_RESOURCE_PARAMS prints."""
        return _result_lines(self.jvm_args, self.dynamic_configs)


@dataclass(frozen=True)
class JobManagerMemory:
    """Every JobManager memory component in bytes, plus what BashJavaUtils prints for it."""

    flink_version: str
    total_process: int
    total_flink: int
    jvm_heap: int
    off_heap: int
    jvm_metaspace: int
    jvm_overhead: int
    direct_memory_limit: bool
    jvm_args: str
    dynamic_configs: tuple[tuple[str, str], ...]
    warnings: tuple[str, ...]

    def bashjavautils_lines(self) -> tuple[str, str]:
        """The two result lines BashJavaUtils GET_JM_RESOURCE_PARAMS prints."""
        return _result_lines(self.jvm_args, self.dynamic_configs)


def _result_lines(jvm_args: str, dynamic: tuple[tuple[str, str], ...]) -> tuple[str, str]:
    return PREFIX + jvm_args, PREFIX + " ".join(f"-D {key}={value}" for key, value in dynamic)


def _jvm_args(heap: int, direct: int | None, metaspace: int) -> str:
    direct_arg = f" -XX:MaxDirectMemorySize={direct}" if direct is not None else ""
    return f"-Xmx{heap} -Xms{heap}{direct_arg} -XX:MaxMetaspaceSize={metaspace}"


def _in_java_order(pairs: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """generateDynamicConfigsStr iterates a java.util.HashMap: reproduce its order."""
    order = java_hashmap_order(tuple(pairs))
    return tuple(zip(order, map(pairs.__getitem__, order), strict=True))


def _prefixed(prefix: str, call: Callable[[], object]) -> object:
    try:
        return call()
    except _Illegal as exc:
        raise _Illegal(prefix + str(exc)) from None


# ----------------------------------------------------------------------------- TaskManager API


def _cpu_cores(conf: _Conf) -> str:
    """getCpuCoresWithFallback(config, -1) -> CPUResource -> String.valueOf(double)."""
    if conf.contains(TM_CPU):
        cores = conf.typed(TM_CPU, java_parse_double)
    else:
        cores = float(conf.typed(TM_SLOTS, java_parse_int))  # type: ignore[arg-type]
    assert isinstance(cores, float)
    if cores <= 0:
        raise _Illegal(
            "TaskExecutors need to be started with a positive number of CPU cores. Please configure "
            f"{TM_CPU.key} accordingly."
        )
    if cores != cores or cores in (float("inf"), float("-inf")):
        raise MemoryConfigError(f"{TM_CPU.key}: {cores} is not a finite number of CPU cores")
    return _cpu_string(cores)


@lru_cache(maxsize=256)
def _cpu_string(cores: float) -> str:
    """CPUResource: BigDecimal.valueOf(double).setScale(8, DOWN).stripTrailingZeros().doubleValue()."""
    truncated = Decimal(repr(cores)).quantize(Decimal("1E-8"), rounding=ROUND_DOWN, context=_WIDE)
    return java_double_to_string(float(truncated))


def _external_resources(conf: _Conf) -> dict[str, int]:
    """ExternalResourceUtils.getExternalResourceAmountMap: names with a positive amount."""
    key = conf._find(EXTERNAL_RESOURCES)
    if key is None or conf.raw[key] == "none":
        return {}
    raw = conf.raw[key]
    stripped = raw.strip()
    if not conf.rules.legacy_options and stripped.startswith("[") and stripped.endswith("]"):
        names = [n.strip().strip("'\"") for n in stripped[1:-1].split(",") if n.strip()]  # 2.x: a YAML list
    else:
        names = [n for n in raw.split(";") if n != ""]
    amounts: dict[str, int] = {}
    for name in java_hashmap_order(tuple(names), presized=True):  # new HashSet<>(list)
        amount_key = f"external-resource.{name}.amount"
        if amount_key not in conf.raw:
            continue
        amount = conf.typed(Option(amount_key), lambda text: java_parse_int(text, 64))
        assert isinstance(amount, int)
        if amount > 0:
            amounts[name] = amount
    return amounts


def derive_taskmanager(conf: Mapping[str, str], flink_version: str = DEFAULT_VERSION) -> TaskManagerMemory:
    """TaskManager memory exactly as `BashJavaUtils GET_TM_RESOURCE_PARAMS` derives it.

    `conf` holds raw Flink option values as strings (what `-D key=value` passes). Raises
    MemoryConfigError naming the violated constraint where Flink fails.
    """
    rules = rules_for(flink_version)
    view = _Conf(conf, rules)
    trace = _Trace()
    if rules.legacy_options and not view.contains(TM_FLINK):
        legacy = _prefixed(
            "TaskManager failed to map legacy JVM heap option to the new one: ",
            lambda: _legacy_heap(view, TM_LEGACY_HEAP, TM_LEGACY_HEAP_MB),
        )
        if legacy is not None:
            view.overrides[TM_FLINK.key] = legacy  # type: ignore[assignment]

    try:
        flink, metaspace, overhead = _process_spec(view, _TM_OPTIONS, _TM_UTILS, trace)
        cores = _cpu_cores(view)
        slots = view.typed(TM_SLOTS, java_parse_int)
        external = _external_resources(view) if EXTERNAL_RESOURCES.key in conf else {}
    except _Illegal as exc:
        raise _Illegal("TaskManager memory configuration failed: " + str(exc)) from None
    assert isinstance(slots, int)
    fw_heap, fw_off, task_heap, task_off, network, managed = flink
    total_flink = _add(*flink)
    total_process = _add(total_flink, metaspace, overhead)
    jvm_heap = fw_heap + task_heap
    jvm_direct = fw_off + task_off + network
    _add(managed, jvm_direct)  # BashJavaUtils logs the total off-heap size
    pairs = {
        "taskmanager.cpu.cores": cores,
        "taskmanager.memory.framework.heap.size": f"{fw_heap}b",
        "taskmanager.memory.framework.off-heap.size": f"{fw_off}b",
        "taskmanager.memory.task.heap.size": f"{task_heap}b",
        "taskmanager.memory.task.off-heap.size": f"{task_off}b",
        "taskmanager.memory.network.min": f"{network}b",
        "taskmanager.memory.network.max": f"{network}b",
        "taskmanager.memory.managed.size": f"{managed}b",
        "taskmanager.memory.jvm-metaspace.size": f"{metaspace}b",
        "taskmanager.memory.jvm-overhead.min": f"{overhead}b",
        "taskmanager.memory.jvm-overhead.max": f"{overhead}b",
        "taskmanager.numberOfTaskSlots": str(slots),
    }
    if external:
        names = java_hashmap_order(tuple(external))  # the spec's Collectors.toMap HashMap
        pairs["external-resources"] = '"' + ";".join(names) + '"'
        for name in names:
            amount = external[name]
            pairs[f"external-resource.{name}.amount"] = str(amount)
    else:
        pairs["external-resources"] = "none"
    warnings = _tm_warnings(view, task_heap, network, overhead, trace)
    return TaskManagerMemory(
        flink_version=flink_version,
        total_process=total_process,
        total_flink=total_flink,
        framework_heap=fw_heap,
        task_heap=task_heap,
        framework_off_heap=fw_off,
        task_off_heap=task_off,
        network=network,
        managed=managed,
        jvm_metaspace=metaspace,
        jvm_overhead=overhead,
        cpu_cores=cores,
        num_slots=slots,
        jvm_heap=jvm_heap,
        jvm_direct=jvm_direct,
        jvm_args=_jvm_args(jvm_heap, jvm_direct, metaspace),
        dynamic_configs=_in_java_order(pairs),
        warnings=warnings,
    )


def _legacy_heap(view: _Conf, heap: Option, heap_mb: Option) -> int | None:
    """MemoryBackwardsCompatibilityUtils.getLegacyHeapMemoryIfExplicitlyConfigured (1.x only)."""
    if view.contains(heap):
        return view.memory(heap)
    if not view.contains(heap_mb):
        return None
    megabytes = view.typed(heap_mb, java_parse_int)
    assert isinstance(megabytes, int)
    if megabytes < 0:
        raise _Illegal(f"Configured total process memory size ({megabytes}MB) must not be less than 0.")
    return megabytes << 20


def _clamp_warnings(view: _Conf, trace: _Trace, sizes: dict[str, tuple[Option, Option, int]]) -> list[str]:
    """Fractions Flink overrode with a min/max: configured ones, and network capped at its max.

    Clamping a *default* fraction to the minimum (small processes) or the overhead to 1g (big ones)
    is routine and not reported.
    """
    out = []
    for what, clamp in trace.clamps.items():
        fraction_opt, bound_opt, size = sizes[what]
        key = view._find(fraction_opt)
        if key is not None:
            out.append(
                f"{key}={view.raw[key]} is not honoured: {what} memory is clamped to its {clamp} "
                f"({bound_opt.key[:-3]}{clamp}) of {hr(size)}"
            )
        elif what == "network" and clamp == "max":
            why = "as configured" if view.contains(TM_NET_MAX) else "its default up to Flink 1.16; unlimited from 1.17"
            out.append(
                f"network memory is capped at {TM_NET_MAX.key} = {hr(size)} ({why}): the default fraction would "
                "give more"
            )
    return out


def _tm_warnings(view: _Conf, task_heap: int, network: int, overhead: int, trace: _Trace) -> tuple[str, ...]:
    out = []
    if task_heap < TM_WARN_TASK_HEAP:
        out.append(f"task heap is only {hr(task_heap)}: user code gets less than 128 MiB of JVM heap")
    out += _clamp_warnings(view, trace, {
        "network": (TM_NET_FRACTION, TM_NET_MAX, network),
        "jvm overhead": (TM_OVERHEAD_FRACTION, TM_OVERHEAD_MAX, overhead),
    })
    return tuple(out)


# ----------------------------------------------------------------------------- JobManager API


def derive_jobmanager(conf: Mapping[str, str], flink_version: str = DEFAULT_VERSION) -> JobManagerMemory:
    """JobManager memory exactly as `BashJavaUtils GET_JM_RESOURCE_PARAMS` derives it."""
    rules = rules_for(flink_version)
    view = _Conf(conf, rules)
    trace = _Trace()

    def derive() -> tuple[tuple[int, ...], int, int]:
        if rules.legacy_options and not view.contains(JM_HEAP):
            legacy = _legacy_heap(view, JM_LEGACY_HEAP, JM_LEGACY_HEAP_MB)
            if legacy is not None:
                view.overrides[JM_HEAP.key] = legacy
        return _process_spec(view, _JM_OPTIONS, _JM_UTILS, trace)

    if rules.legacy_options:
        flink, metaspace, overhead = _prefixed("JobManager memory configuration failed: ", derive)  # type: ignore[misc]
    else:
        flink, metaspace, overhead = derive()
    heap, off = flink
    total_flink = _add(heap, off)
    total_process = _add(total_flink, metaspace, overhead)
    limit = view.typed(JM_DIRECT_LIMIT, java_parse_bool)
    assert isinstance(limit, bool)
    pairs = {
        "jobmanager.memory.heap.size": f"{heap}b",
        "jobmanager.memory.off-heap.size": f"{off}b",
        "jobmanager.memory.jvm-metaspace.size": f"{metaspace}b",
        "jobmanager.memory.jvm-overhead.min": f"{overhead}b",
        "jobmanager.memory.jvm-overhead.max": f"{overhead}b",
    }
    warnings = []
    if heap < JM_WARN_HEAP:
        below = " (below Flink's recommended minimum of 128 MiB)" if heap < JM_MIN_RECOMMENDED_HEAP else ""
        warnings.append(f"JobManager heap is only {hr(heap)}{below}: raise jobmanager.memory.process.size")
    warnings += _clamp_warnings(view, trace, {"jvm overhead": (JM_OVERHEAD_FRACTION, JM_OVERHEAD_MAX, overhead)})
    return JobManagerMemory(
        flink_version=flink_version,
        total_process=total_process,
        total_flink=total_flink,
        jvm_heap=heap,
        off_heap=off,
        jvm_metaspace=metaspace,
        jvm_overhead=overhead,
        direct_memory_limit=limit,
        jvm_args=_jvm_args(heap, off if limit else None, metaspace),
        dynamic_configs=_in_java_order(pairs),
        warnings=tuple(warnings),
    )
