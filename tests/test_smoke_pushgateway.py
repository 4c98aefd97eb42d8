"""The Pushgateway the suite uses is the real binary: it accepts a push and lists the group."""

import json
import urllib.request


def test_real_pushgateway_accepts_push_and_lists_group(pushgateway):
    body = b"# TYPE smoke_metric gauge\nsmoke_metric 42\n"
    req = urllib.request.Request(f"{pushgateway.url}/metrics/job/smoke/instance/a", data=body, method="PUT")
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.status == 200
    with urllib.request.urlopen(f"{pushgateway.url}/api/v1/metrics", timeout=5) as resp:
        groups = json.load(resp)["data"]
    labels = [g["labels"] for g in groups]
    assert {"job": "smoke", "instance": "a"} in labels
    group = next(g for g in groups if g["labels"] == {"job": "smoke", "instance": "a"})
    assert group["smoke_metric"]["metrics"][0]["value"] == "42"
    assert "push_time_seconds" in group
