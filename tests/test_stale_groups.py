"""Pure decisions of the Pushgateway cleanup: durations, grouping-key encoding, stale selection, guard."""

from __future__ import annotations

import base64

import pytest

from flink_k8s.clients.pushgateway import encode_label, grouping_key_path
from flink_k8s.core.durations import DurationError, format_duration, parse_duration
from flink_k8s.core.stale_groups import (
    DEFAULT_JOB_REGEX,
    Criteria,
    Group,
    SelectionError,
    job_pattern,
    parse_groups,
    parse_keep,
    parse_matcher,
    select_stale,
)

NOW = 1_800_000_000.0
HEX = "0123456789abcdef" * 2  # a Flink AbstractID: 32 lowercase hex characters


@pytest.mark.parametrize(
    "text, seconds",
    [("90", 90), ("1.5", 1.5), ("15m", 900), ("2h", 7200), ("1d", 86400), ("1w", 604800),
     ("1h30m", 5400), ("1d 2h", 93600), ("500ms", 0.5), ("PT15M", 900), ("P1D", 86400),
     ("P1DT2H30M", 95400), ("PT0.5S", 0.5), ("pt1h", 3600), ("P2W", 1209600), (30, 30), (2.5, 2.5)],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "abc", "15x", "P", "PT", "P1DT", "P1M", "P1Y", "-5", "m15", True])
def test_parse_duration_rejects_with_field_and_value(text):
    with pytest.raises(DurationError) as err:
        parse_duration(text, "max_age")
    assert f"max_age={text!r}" in str(err.value)


def test_months_are_refused_with_the_reason():
    with pytest.raises(DurationError, match="no fixed length"):
        parse_duration("P1M", "max_age")


@pytest.mark.parametrize("seconds, text", [(90, "1m30s"), (86400, "1d"), (0.25, "250ms"), (3661, "1h1m1s")])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    "name, value, path",
    [
        ("job", "flink", "/job/flink"),
        ("instance", "tm-1.a_b~c", "/instance/tm-1.a_b~c"),
        ("path", "/var/tmp", "/path@base64/L3Zhci90bXA"),  # README example
        ("e", "", "/e@base64/="),  # README: empty needs '='
        ("name", "Προμηθεύς", "/name@base64/zqDPgc6_zrzOt864zrXPjc-C"),  # README example, URL-safe alphabet
        ("v", "a b", "/v@base64/YSBi"),
        ("v", "x?y#z", "/v@base64/" + base64.urlsafe_b64encode(b"x?y#z").decode().rstrip("=")),
    ],
)
def test_encode_label_follows_pushgateway_readme(name, value, path):
    assert encode_label(name, value) == path


def test_grouping_key_path_uses_every_label_job_first():
    path = grouping_key_path({"zone": "a/b", "job": "j/1", "instance": ""})
    assert path == "/metrics/job@base64/ai8x/instance@base64/=/zone@base64/YS9i"
    with pytest.raises(ValueError, match="job"):
        grouping_key_path({"instance": "x"})


def g(job: str, age: float | None, failed_age: float | None = None, **labels: str) -> Group:
    return Group(labels={"job": job, **labels},
                 push_time=None if age is None else NOW - age,
                 failure_time=None if failed_age is None else NOW - failed_age,
                 last_push_successful=failed_age is None or (age is not None and age < failed_age))


def names(groups):
    return sorted(gr.job + "|" + ",".join(f"{k}={v}" for k, v in sorted(gr.labels.items()) if k != "job")
                  for gr in groups)


def test_default_filter_is_flink_jobname_plus_random_suffix():
    assert job_pattern() == DEFAULT_JOB_REGEX
    crit = Criteria(max_age=60, max_share=1)
    groups = [g("flink" + HEX, 120), g("other" + HEX, 120), g("flink", 120), g("flink" + HEX[:31], 120),
              g("flink" + HEX.upper(), 120), g(HEX, 120)]
    sel = select_stale(groups, NOW, crit)
    assert names(sel.stale) == names([groups[0], groups[1], groups[5]])
    assert len(sel.kept_by_filter) == 3


def test_job_prefix_means_reporter_jobname_plus_suffix_and_is_escaped():
    crit = Criteria(max_age=60, job_regex=job_pattern(job_prefix="flink.prod"), max_share=1)
    groups = [g("flink.prod" + HEX, 120), g("flinkXprod" + HEX, 120), g("flink.prod-extra" + HEX, 120),
              g("flink.prod", 120)]
    assert names(select_stale(groups, NOW, crit).stale) == names(groups[:1])
    with pytest.raises(SelectionError, match="one, not both"):
        job_pattern("x", "y")


@pytest.mark.parametrize(
    "age, expected_stale",
    [(59.9, False), (60.0, False), (60.1, True), (86400, True)],
)
def test_age_threshold_is_strictly_older_than_max_age(age, expected_stale):
    sel = select_stale([g("flink" + HEX, age)], NOW, Criteria(max_age=60, max_share=1))
    assert bool(sel.stale) is expected_stale
    assert bool(sel.kept_fresh) is not expected_stale


def test_age_counts_from_last_successful_push_not_from_failures():
    # pushed OK 2 h ago, failing since: stale; never succeeded but tried 10 s ago: a live pusher, keep.
    groups = [g("a" + HEX, 7200, failed_age=10), g("b" + HEX, None, failed_age=10), g("c" + HEX, None)]
    sel = select_stale(groups, NOW, Criteria(max_age=60, max_share=1))
    assert names(sel.stale) == names(groups[:1])
    assert names(sel.kept_fresh) == names(groups[1:2])
    assert names(sel.kept_unknown_age) == names(groups[2:])


def test_label_matchers_and_keep_list():
    crit = Criteria(
        max_age=60, max_share=1,
        matchers=(parse_matcher("cluster=prod"), parse_matcher("instance=~tm-.*"), parse_matcher("zone!=b")),
        keep=(parse_keep("job=flink" + HEX + ",instance=tm-keep"),),
    )
    groups = [
        g("flink" + HEX, 120, cluster="prod", instance="tm-1", zone="a"),  # stale
        g("flink" + HEX, 120, cluster="prod", instance="tm-keep"),  # keep-list
        g("flink" + HEX, 120, cluster="dev", instance="tm-2"),  # matcher cluster
        g("flink" + HEX, 120, cluster="prod", instance="jm-1"),  # matcher instance
        g("flink" + HEX, 120, cluster="prod", instance="tm-3", zone="b"),  # matcher zone
        g("flink" + HEX, 10, cluster="prod", instance="tm-4"),  # fresh
    ]
    sel = select_stale(groups, NOW, crit)
    assert names(sel.stale) == names(groups[:1])
    assert names(sel.kept_by_keep_list) == names(groups[1:2])
    assert names(sel.kept_by_filter) == names(groups[2:5])
    assert names(sel.kept_fresh) == names(groups[5:])


@pytest.mark.parametrize(
    "text, labels, expected",
    [("a=1", {"a": "1"}, True), ("a=1", {}, False), ("a=", {}, True), ("a!=1", {"a": "2"}, True),
     ("a=~x.*", {"a": "xyz"}, True), ("a=~x", {"a": "xyz"}, False), ("a!~x.*", {"a": "xyz"}, False),
     ("a=b=c", {"a": "b=c"}, True)],
)
def test_matcher_semantics(text, labels, expected):
    assert parse_matcher(text).matches(labels) is expected


@pytest.mark.parametrize("text", ["=1", "1a=2", "a", "a=~(", "a b=1"])
def test_bad_matchers_name_the_value(text):
    with pytest.raises(SelectionError) as err:
        parse_matcher(text, "--match")
    assert "--match=" in str(err.value)


@pytest.mark.parametrize("text", ["job", "=x", "job=a,bad"])
def test_bad_keep_entries(text):
    with pytest.raises(SelectionError, match="keep="):
        parse_keep(text)


def test_guard_refuses_more_than_max_share_and_deletes_nothing():
    groups = [g(f"f{i}" + HEX, 120) for i in range(6)] + [g(f"f{i}" + HEX, 1) for i in range(4)]
    refused = select_stale(groups, NOW, Criteria(max_age=60))  # 6 of 10 > 50 %
    assert refused.stale == [] and len(refused.kept_by_guard) == 6
    assert "6 of 10" in refused.refused and "max_share=0.5" in refused.refused
    allowed = select_stale(groups, NOW, Criteria(max_age=60, max_share=0.6))  # 6 of 10 == 60 %: allowed
    assert len(allowed.stale) == 6 and allowed.refused is None
    forced = select_stale(groups, NOW, Criteria(max_age=60, force=True))
    assert len(forced.stale) == 6 and forced.refused is None


def test_guard_counts_share_of_all_groups_scanned():
    stale = [g("a" + HEX, 120)]
    unrelated = [g("node_exporter", 120) for _ in range(3)]  # filtered out, but part of the gateway
    assert len(select_stale(stale + unrelated, NOW, Criteria(max_age=60)).stale) == 1  # 1 of 4
    assert select_stale(stale, NOW, Criteria(max_age=60)).refused  # 1 of 1


@pytest.mark.parametrize("kwargs, field", [({"max_age": 0}, "max_age"), ({"max_age": 1, "max_share": 1.5},
                                           "max_share"), ({"max_age": 1, "job_regex": "("}, "job_regex")])
def test_invalid_criteria(kwargs, field):
    with pytest.raises(SelectionError, match=field):
        Criteria(**kwargs)


def test_parse_groups_from_api_json():
    payload = {"status": "success", "data": [
        {"labels": {"job": "j", "e": ""}, "last_push_successful": False,
         "push_time_seconds": {"metrics": [{"labels": {}, "value": "1.7959709417571304e+09"}]},
         "push_failure_time_seconds": {"metrics": [{"labels": {}, "value": "1795970950"}]},
         "some_metric": {"metrics": [{"value": "1"}]}},
        {"labels": {"job": "k"}},
    ]}
    first, second = parse_groups(payload)
    assert first.labels == {"job": "j", "e": ""}
    assert first.push_time == pytest.approx(1795970941.7571304)
    assert first.failure_time == 1795970950 and first.last_push_successful is False
    assert second.push_time is None and second.last_seen() is None
    assert parse_groups(payload["data"]) == [first, second]
