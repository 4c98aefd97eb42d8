"""Unit tests of the pure memory model (`flink_k8s.core.memory`) and the `memory` command.

Expected numbers come from Flink's BashJavaUtils (1.15.2 / 2.3.0) run on the same -D options
(tests/test_memory_parity.py re-checks them and ~1,600 more per version against the real jars).
"""

from __future__ import annotations

import json

import pytest

from flink_k8s.cli import main
from flink_k8s.core.memory import (
    LONG_MAX,
    SUPPORTED_VERSIONS,
    MemoryConfigError,
    derive_jobmanager,
    derive_taskmanager,
    rules_for,
)
from flink_k8s.core.memory_size import (
    format_memory,
    human_readable,
    java_double_to_string,
    java_hashmap_order,
    java_parse_bool,
    java_parse_double,
    java_parse_float,
    java_parse_int,
    parse_memory_size,
)

MIB = 1 << 20
SEED_TM = {
    "taskmanager.memory.process.size": "4096mb",
    "taskmanager.memory.managed.fraction": "0.05",
    "taskmanager.memory.network.fraction": "0.05",
    "taskmanager.memory.jvm-overhead.fraction": "0.05",
}
SEED_JM = {"jobmanager.memory.process.size": "700mb", "jobmanager.memory.enable-jvm-direct-memory-limit": "true"}


# ------------------------------------------------------------------ known values


@pytest.mark.parametrize("version", ["1.15", "2.3"])
def test_seed_taskmanager(version: str) -> None:
    tm = derive_taskmanager(SEED_TM, version)
    assert tm.total_process == 4096 * MIB
    assert tm.jvm_overhead == 214748368  # 4096m x 0.05f, above the 192m minimum
    assert tm.jvm_metaspace == 256 * MIB
    assert tm.total_flink == 3811783472
    assert tm.managed == tm.network == 190589176  # 3811783472 x 0.05000000074505806, truncated
    assert tm.framework_heap == tm.framework_off_heap == 128 * MIB
    assert tm.task_heap == 3162169664
    assert tm.jvm_args == "-Xmx3296387392 -Xms3296387392 -XX:MaxDirectMemorySize=324806904 -XX:MaxMetaspaceSize=268435456"
    pairs = dict(tm.dynamic_configs)
    assert pairs["taskmanager.memory.network.min"] == pairs["taskmanager.memory.network.max"] == "190589176b"
    assert pairs["taskmanager.cpu.cores"] == "1.0" and pairs["external-resources"] == "none"
    assert tm.warnings == ()


def test_seed_jobmanager_700mb_leaves_124_mib_heap_and_warns() -> None:
    jm = derive_jobmanager(SEED_JM, "1.15")
    assert (jm.jvm_heap, jm.off_heap, jm.jvm_metaspace, jm.jvm_overhead) == (130023424, 128 * MIB, 256 * MIB, 192 * MIB)
    assert jm.jvm_args == "-Xmx130023424 -Xms130023424 -XX:MaxDirectMemorySize=134217728 -XX:MaxMetaspaceSize=268435456"
    assert len(jm.warnings) == 1 and "JobManager heap is only 124.000mb" in jm.warnings[0] and "128 MiB" in jm.warnings[0]


def test_jobmanager_direct_memory_limit_is_off_by_default() -> None:
    jm = derive_jobmanager({"jobmanager.memory.process.size": "1600m"})
    assert "MaxDirectMemorySize" not in jm.jvm_args
    assert jm.warnings == ()
    assert jm.bashjavautils_lines() == (
        "BASH_JAVA_UTILS_EXEC_RESULT:-Xmx1073741824 -Xms1073741824 -XX:MaxMetaspaceSize=268435456",
        "BASH_JAVA_UTILS_EXEC_RESULT:-D jobmanager.memory.off-heap.size=134217728b "
        "-D jobmanager.memory.jvm-overhead.min=201326592b -D jobmanager.memory.jvm-metaspace.size=268435456b "
        "-D jobmanager.memory.heap.size=1073741824b -D jobmanager.memory.jvm-overhead.max=201326592b",
    )


@pytest.mark.parametrize(
    ("version", "network"),
    [("1.15", 1 << 30), ("1.16", 1 << 30), ("1.17", 3301756158), ("1.20", 3301756158), ("2.3", 3301756158)],
)
def test_network_max_default_changed_in_1_17(version: str, network: int) -> None:
    tm = derive_taskmanager({"taskmanager.memory.process.size": "32g", "taskmanager.memory.network.fraction": "0.1"}, version)
    assert tm.network == network
    assert tm.total_flink == 33017561088
    assert any("taskmanager.memory.network.fraction=0.1 is not honoured" in w and "(taskmanager.memory.network.max)" in w
               for w in tm.warnings) == (network == 1 << 30)
    default_fraction = derive_taskmanager({"taskmanager.memory.process.size": "32g"}, version)
    assert any("capped at taskmanager.memory.network.max" in w for w in default_fraction.warnings) == (network == 1 << 30)


def test_explicit_network_range_wins_over_fraction() -> None:
    conf = {"taskmanager.memory.process.size": "8g", "taskmanager.memory.network.min": "100m",
            "taskmanager.memory.network.max": "100m"}
    assert derive_taskmanager(conf).network == 100 * MIB


def test_explicit_managed_size_wins_over_fraction_and_deprecated_key_is_read() -> None:
    base = {"taskmanager.memory.process.size": "4g", "taskmanager.memory.managed.fraction": "0.9"}
    assert derive_taskmanager({**base, "taskmanager.memory.managed.size": "0"}).managed == 0
    assert derive_taskmanager({**base, "taskmanager.memory.size": "10m"}).managed == 10 * MIB


def test_fine_grained_heap_and_managed_derive_the_totals() -> None:
    tm = derive_taskmanager({"taskmanager.memory.task.heap.size": "1g", "taskmanager.memory.managed.size": "512m"})
    assert tm.task_heap == 1 << 30 and tm.managed == 512 * MIB
    # network from the inverse fraction: 1792m x (0.1f / (1 - 0.1f)) = 1879048192 x 0.11111111295,
    # truncated (checked against BashJavaUtils 2.3.0)
    assert tm.network == 208783135
    assert tm.total_process == tm.total_flink + tm.jvm_metaspace + tm.jvm_overhead


def test_legacy_keys_exist_only_in_1_x() -> None:
    tm = derive_taskmanager({"taskmanager.heap.size": "1g"}, "1.15")
    assert tm.total_flink == 1 << 30
    assert derive_jobmanager({"jobmanager.heap.mb": "1024"}, "1.20").jvm_heap == 1 << 30
    buffers = {"taskmanager.memory.process.size": "2g", "taskmanager.network.numberOfBuffers": "4096"}
    assert derive_taskmanager(buffers, "1.15").network == 4096 * 32 * 1024
    assert derive_taskmanager(buffers, "2.3").network != 4096 * 32 * 1024
    with pytest.raises(MemoryConfigError, match="need to be configured explicitly"):
        derive_taskmanager({"taskmanager.heap.size": "1g"}, "2.0")


def test_huge_sizes_and_long_overflow() -> None:
    tm = derive_taskmanager({"taskmanager.memory.process.size": "1t"})
    assert tm.total_process == 1 << 40
    with pytest.raises(MemoryConfigError, match="long overflow"):
        derive_taskmanager({"taskmanager.memory.flink.size": f"{LONG_MAX}b"})


def test_cpu_cores_follow_slots_and_are_truncated_to_8_decimals() -> None:
    base = {"taskmanager.memory.process.size": "4g"}
    assert derive_taskmanager({**base, "taskmanager.numberOfTaskSlots": "4"}).cpu_cores == "4.0"
    assert derive_taskmanager({**base, "taskmanager.cpu.cores": "0.123456789"}).cpu_cores == "0.12345678"
    assert derive_taskmanager({**base, "taskmanager.cpu.cores": "1e8"}).cpu_cores == "1.0E8"


def test_external_resources_are_listed_like_flink() -> None:
    conf = {"taskmanager.memory.process.size": "4g", "external-resources": "gpu;fpga",
            "external-resource.gpu.amount": "2", "external-resource.fpga.amount": "0"}
    pairs = dict(derive_taskmanager(conf).dynamic_configs)
    assert pairs["external-resources"] == '"gpu"'
    assert pairs["external-resource.gpu.amount"] == "2"
    assert "external-resource.fpga.amount" not in pairs


# ------------------------------------------------------------------ failures name the constraint

TM_ERRORS = [
    ({}, "need to be configured explicitly"),
    ({"taskmanager.memory.process.size": "100m"}, "exceed configured Total Process Memory"),
    ({"taskmanager.memory.process.size": "1g", "taskmanager.memory.managed.fraction": "1.0"},
     "fraction must be in range [0, 1)"),
    ({"taskmanager.memory.process.size": "1g", "taskmanager.memory.network.max": "32m"},
     "min value must be less or equal to max value"),
    ({"taskmanager.memory.flink.size": "1g", "taskmanager.memory.task.heap.size": "2g"},
     "exceed configured Total Flink Memory"),
    ({"taskmanager.memory.process.size": "4g", "taskmanager.memory.flink.size": "1g"},
     "is not in configured JVM Overhead range"),
    ({"taskmanager.memory.process.size": "1.5g"},
     "Cannot read memory size from config option 'taskmanager.memory.process.size'"),
    ({"taskmanager.memory.process.size": "2g", "taskmanager.cpu.cores": "0"}, "positive number of CPU cores"),
    ({"taskmanager.memory.process.size": "2g", "taskmanager.numberOfTaskSlots": " 2"},
     "Could not parse value ' 2' for key 'taskmanager.numberOfTaskSlots'"),
    ({"taskmanager.memory.flink.size": "2g", "taskmanager.memory.task.heap.size": "1g",
      "taskmanager.memory.managed.size": "100m", "taskmanager.memory.network.max": "100m"},
     "Network Memory size is the rest of the Total Flink memory"),
]


@pytest.mark.parametrize(("conf", "message"), TM_ERRORS)
def test_taskmanager_errors_name_the_constraint(conf: dict[str, str], message: str) -> None:
    with pytest.raises(MemoryConfigError) as err:
        derive_taskmanager(conf)
    assert message in str(err.value)
    assert isinstance(err.value, ValueError)


JM_ERRORS = [
    ({"jobmanager.memory.flink.size": "100m"}, "is less than the configured Off-heap Memory"),
    ({"jobmanager.memory.heap.size": "1g", "jobmanager.memory.off-heap.size": "1g", "jobmanager.memory.flink.size": "1g"},
     "does not match the configured Total Flink Memory"),
    ({"jobmanager.memory.heap.size": "2g", "jobmanager.memory.flink.size": "1g"}, "exceeds the configured Total Flink Memory"),
    ({"jobmanager.memory.process.size": "1g", "jobmanager.memory.enable-jvm-direct-memory-limit": "yes"},
     "Unrecognized option for boolean"),
    ({"jobmanager.memory.process.size": "300m"}, "exceed configured Total Process Memory"),
]


@pytest.mark.parametrize(("conf", "message"), JM_ERRORS)
def test_jobmanager_errors_name_the_constraint(conf: dict[str, str], message: str) -> None:
    with pytest.raises(MemoryConfigError, match=None) as err:
        derive_jobmanager(conf)
    assert message in str(err.value)


def test_1_x_prefixes_jobmanager_errors_like_flink() -> None:
    with pytest.raises(MemoryConfigError, match="^JobManager memory configuration failed: "):
        derive_jobmanager({"jobmanager.memory.process.size": "300m"}, "1.15")


def test_options_flink_does_not_read_are_not_validated() -> None:
    # managed size wins, so Flink never parses the (broken) fraction
    conf = {"taskmanager.memory.process.size": "2g", "taskmanager.memory.managed.size": "1m",
            "taskmanager.memory.managed.fraction": "abc"}
    assert derive_taskmanager(conf).managed == MIB


def test_unsupported_version() -> None:
    with pytest.raises(MemoryConfigError, match="not supported"):
        derive_taskmanager({"taskmanager.memory.process.size": "2g"}, "1.14")
    assert [rules_for(v).legacy_options for v in SUPPORTED_VERSIONS] == [True] * 6 + [False] * 4


# ------------------------------------------------------------------ MemorySize and Java values


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1728m", 1728 * MIB), ("4 GiBiBytes", 4 << 30), (" 64 kb ", 64 << 10), ("42", 42), ("1t", 1 << 40),
     ("0", 0), ("7 bytes", 7), ("0001g", 1 << 30)],
)
def test_parse_memory_size(text: str, expected: int) -> None:
    assert parse_memory_size(text) == expected


@pytest.mark.parametrize("text", ["", "   ", "1.5g", "m", "-1m", "12x", "9223372036854775807k", "99999999999999999999"])
def test_parse_memory_size_rejects_what_flink_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_memory_size(text)


def test_memory_formatting_matches_flink() -> None:
    assert human_readable(130023424) == "124.000mb (130023424 bytes)"
    assert human_readable(1024) == "1024 bytes"  # Flink picks the unit strictly below the size
    assert human_readable(1088) == "1.063kb (1088 bytes)"  # HALF_UP, as java.util.Formatter
    assert format_memory(1728 * MIB) == "1728 mb"
    assert format_memory(0) == "0 bytes"


def test_java_value_parsing() -> None:
    assert java_parse_float("0.05") == 0.05000000074505806  # float32 widened to double
    assert java_parse_float("0.4f") == java_parse_float(" 0.4 ")
    # straight to float32, not via float64 (which would land on the midpoint and round to even: 1.0)
    assert java_parse_float("1.000000059604644775390625000000000001") == 1.0000001192092896
    assert java_parse_float("1e999999999") == float("inf")  # Java: Infinity, no error (and no hang here)
    assert java_parse_double("1e-1") == 0.1
    for bad in ("inf", "1_0", "0,1", "", "1e"):
        with pytest.raises(ValueError):
            java_parse_float(bad)
    assert java_parse_int("+7") == 7
    for bad in (" 7", "7.0", "2147483648"):
        with pytest.raises(ValueError):
            java_parse_int(bad)
    assert java_parse_bool("TRUE") is True
    with pytest.raises(ValueError):
        java_parse_bool(" true")
    assert [java_double_to_string(v) for v in (1.0, 0.001, 1e7, 1e-4, 123.25)] == ["1.0", "0.001", "1.0E7", "1.0E-4", "123.25"]


def test_java_hashmap_order_matches_bashjavautils_output() -> None:
    keys = ("jobmanager.memory.heap.size", "jobmanager.memory.off-heap.size", "jobmanager.memory.jvm-metaspace.size",
            "jobmanager.memory.jvm-overhead.min", "jobmanager.memory.jvm-overhead.max")
    assert java_hashmap_order(keys) == (
        "jobmanager.memory.off-heap.size", "jobmanager.memory.jvm-overhead.min", "jobmanager.memory.jvm-metaspace.size",
        "jobmanager.memory.heap.size", "jobmanager.memory.jvm-overhead.max")


# ------------------------------------------------------------------ command line


def _dargs(conf: dict[str, str]) -> list[str]:
    return [arg for key, value in conf.items() for arg in ("-D", f"{key}={value}")]


def test_cli_bashjavautils_format_prints_exactly_the_two_lines(capsys) -> None:
    assert main(["memory", "--role", "taskmanager", *_dargs(SEED_TM), "--format", "bashjavautils"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == list(derive_taskmanager(SEED_TM).bashjavautils_lines())


def test_cli_flag_without_value_means_true_and_version_patch_is_accepted(capsys) -> None:
    argv = ["memory", "--role", "jobmanager", "-D", "jobmanager.memory.process.size=700mb",
            "-Djobmanager.memory.enable-jvm-direct-memory-limit", "--flink-version", "1.15.2", "--json"]
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["jvm_heap"] == 130023424 and data["direct_memory_limit"] is True
    assert data["flink_version"] == "1.15" and data["warnings"]


def test_cli_table(capsys) -> None:
    assert main(["memory", "--role", "taskmanager", "-D", "taskmanager.memory.process.size=1728m"]) == 0
    out = capsys.readouterr().out
    assert "Total Process Memory" in out and "1,811,939,328 bytes" in out and "JVM args: -Xmx" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--role", "taskmanager", "-D", "taskmanager.memory.process.size=100m"], "exceed configured Total Process Memory"),
        (["--role", "jobmanager"], "need to be configured explicitly"),
        (["--role", "taskmanager", "-D", "taskmanager.memory.process.size=2g", "--flink-version", "3.0"], "not supported"),
    ],
)
def test_cli_invalid_exits_2_naming_the_constraint(capsys, argv: list[str], message: str) -> None:
    assert main(["memory", *argv, "--format", "bashjavautils"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert message in captured.err


# ------------------------------------------------------------------ versions without a distribution here

# keys whose reading differs between 1.x and 2.x (legacy options; 2.x also reads lists as YAML)
VERSION_SENSITIVE_KEYS = ("taskmanager.heap.size", "taskmanager.heap.mb", "jobmanager.heap.size", "jobmanager.heap.mb",
                          "taskmanager.network.numberOfBuffers", "external-resources")


def _outcome(role: str, conf: dict[str, str], version: str) -> object:
    try:
        result = (derive_taskmanager if role == "taskmanager" else derive_jobmanager)(conf, version)
    except MemoryConfigError:
        return "error"
    return result.bashjavautils_lines()


def test_minors_between_checked_distributions_follow_their_rule_table() -> None:
    """Only 1.15.2 and 2.3.0 exist here to run; every other minor must behave like the checked one with
    the same rules: 1.16 = 1.15; 2.0-2.2 = 2.3; 1.17-1.20 = 2.3 unless 1.x-only keys are used."""
    from tests.test_memory_parity import grid

    items = grid("1.15") + grid("2.3")
    for role, conf in items:
        old, new = _outcome(role, conf, "1.15"), _outcome(role, conf, "2.3")
        assert _outcome(role, conf, "1.16") == old
        for version in ("2.0", "2.1", "2.2"):
            assert _outcome(role, conf, version) == new
        if not any(key in conf for key in VERSION_SENSITIVE_KEYS):
            for version in ("1.17", "1.18", "1.19", "1.20"):
                assert _outcome(role, conf, version) == new
