"""Property-based fuzzing (Hypothesis) of the config path: model YAML + spec YAML -> estimate.

Whatever the documents hold (random keys, huge ints, nan / inf / 1e308, strings, nested dicts and
lists, aliases), ``hwsim estimate -f json`` either succeeds with strict, finite JSON or fails with
exit code 2 and exactly one ``error:`` line, never a traceback. Deterministic (``derandomize``),
so CI sees the same examples every run; most models are small (ResNet20 on 8 x 8 inputs), and the
layer-table cache (private to the tests) makes repeats cheap.
"""

import json
import math
import os

import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from hwsim.cli import app

runner = CliRunner()

WILD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.sampled_from([0, -1, 1, 2**31, 2**53, 2**63 - 1, 2**63, 10**30]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e308, -1e308, 1e-308, 0.5, 2.5]),
    st.text(max_size=30),
    st.sampled_from(["resnet20", "float", "oat", "pgdat", "cifar10", "asic-65nm", "../x", "\x00", "a" * 300]),
)
VALUE = st.recursive(
    WILD,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
KEY = st.sampled_from(["arch", "method", "dataset", "input", "num_classes", "dual_bn", "film_dim", "alpha_init", "dropout", "eval", "spec", "name", "junk"])  # fmt: skip


@st.composite
def model_doc(draw):
    """Mostly a small valid network with a few fields replaced by wild values."""
    doc = {
        "arch": draw(st.sampled_from(["resnet20", "resnet20", "resnet20", "wrn16_8", "resnet34"])),
        "method": draw(st.sampled_from(["float", "oat", "pgdat"])),
        "input": {
            "height": draw(st.sampled_from([8, 8, 4, 1, 16])),
            "width": 8,
            "channels": draw(st.sampled_from([3, 1])),
        },
        "num_classes": draw(st.sampled_from([10, 2, 1])),
    }
    if draw(st.booleans()):
        doc["eval"] = {"lambda": draw(st.sampled_from([0.0, 0.5, 1.0, 0.2, 0.7, float("nan"), 2.0]))}
    for key in draw(st.lists(KEY, max_size=3)) if draw(st.booleans()) else []:  # half stay valid
        doc[key] = draw(VALUE)
    if draw(st.integers(0, 9)) == 0:  # now and then a wild input shape
        doc["input"] = {"height": draw(WILD), "width": draw(st.sampled_from([8, 2**14, 2**15])), "channels": 3}
    return doc


@st.composite
def spec_doc(draw):
    doc = {
        "timing": {"tau_read_ns": 9, "tau_mult_ns": 4},
        "memory": {"io_bandwidth_bits": 64, "weight_bits": 8, "n_banks": 16},
        "compute": {"n_multipliers": 32},
    }
    for _ in range(draw(st.sampled_from([0, 0, 1, 2, 3]))):
        section = draw(st.sampled_from(["timing", "memory", "compute", "top"]))
        key = draw(st.sampled_from(["tau_read_ns", "tau_mult_ns", "io_bandwidth_bits", "weight_bits", "n_banks", "n_multipliers", "name", "x"]))  # fmt: skip
        value = draw(VALUE)
        (doc if section == "top" else doc[section])[key] = value
    return doc


def dump(doc, alias: bool) -> str:
    """YAML text of ``doc``; with ``alias``, a shared value written as an anchor and aliases."""
    text = yaml.safe_dump(doc, allow_unicode=True)
    if alias:
        text = "shared: &s [1, 2]\nagain: *s\n" + text
    return text


def refuse_constant(token):
    raise AssertionError(f"non-JSON token {token} in the output")


def finite(value) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(finite(v) for v in value.values())
    if isinstance(value, list):
        return all(finite(v) for v in value)
    return True


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture])  # fmt: skip
@given(model=model_doc(), spec=spec_doc(), alias=st.integers(0, 19), use_spec=st.booleans())
def test_estimate_is_strict_json_or_one_error_line(tmp_path_factory, model, spec, alias, use_spec):
    folder = tmp_path_factory.mktemp("fuzz")
    model_path, spec_path = folder / "m.yaml", folder / "s.yaml"
    model_path.write_text(dump(model, alias == 0), encoding="utf-8")
    spec_path.write_text(dump(spec, alias == 1), encoding="utf-8")
    args = ["estimate", str(model_path), "-f", "json", *(["--spec", str(spec_path)] if use_spec else [])]
    result = runner.invoke(app, args)
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    event(f"exit {result.exit_code}")
    if os.environ.get("HWSIM_FUZZ_LOG"):
        with open(os.environ["HWSIM_FUZZ_LOG"], "a") as log:
            log.write(f"{result.exit_code} {result.stderr.strip()[:160]}\n")
    if result.exit_code == 0:
        data = json.loads(result.stdout, parse_constant=refuse_constant)
        assert finite(data) and data["totals"]["delay_ns"] > 0
    else:
        assert result.exit_code == 2, (result.exit_code, result.output)
        lines = result.stderr.splitlines()
        assert result.stdout == "" and len(lines) == 1 and lines[0].startswith("error: "), lines
        assert len(lines[0]) <= 1000
