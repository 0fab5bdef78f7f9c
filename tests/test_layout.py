"""The package's shape (README, Layout): the codec is the ground floor, nothing imports in a cycle,
and the bits-per-parameter choices agree across the codec, configs and the benchmark schema."""

import ast
from pathlib import Path

import yaml

from audio_gs.codec.quantize import ALLOWED_BITS
from audio_gs.encoder.config import CHOICES

PKG = Path(__file__).resolve().parents[1] / "audio_gs"
SHARED = {"audio_gs", "audio_gs.errors", "audio_gs.audio_io"}  # what every floor may use


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def import_graph() -> dict[str, set[str]]:
    """module -> audio_gs modules it imports anywhere in its body (top-level or inside functions)."""
    modules = {_module_name(p): p for p in PKG.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("audio_gs"):
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    deps.add(full if full in modules else node.module)
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names if a.name.startswith("audio_gs")}
        graph[name] = {d for d in deps if d in modules and d != name}
    return graph


def test_the_codec_imports_nothing_above_it():
    graph = import_graph()
    for mod, deps in graph.items():
        if mod.startswith("audio_gs.codec"):
            bad = {d for d in deps if not d.startswith("audio_gs.codec") and d not in SHARED}
            assert not bad, f"{mod} imports {bad}"


def test_the_encoder_and_the_benchmark_do_not_import_the_command_line_or_each_other():
    for mod, deps in import_graph().items():
        if mod.startswith("audio_gs.encoder"):
            assert not {d for d in deps if d.startswith(("audio_gs.cli", "audio_gs.bench"))}, mod
        if mod.startswith("audio_gs.bench"):
            assert not {d for d in deps if d.startswith(("audio_gs.cli", "audio_gs.encoder"))}, mod


def test_no_import_cycles():
    graph = import_graph()
    state: dict[str, int] = {}

    def visit(m, path):
        state[m] = 1
        for d in graph[m]:
            if state.get(d) == 1:
                raise AssertionError("import cycle: " + " -> ".join(path + [m, d]))
            if d not in state:
                visit(d, path + [m])
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m, [])


def test_bits_per_parameter_choices_agree_everywhere():
    schema = yaml.safe_load((PKG.parent / "params" / "benchmark.schema.yaml").read_text())
    bits_item = schema["$defs"]["profile"]["properties"]["bits"]["items"]
    claims_bits = schema["properties"]["claims"]["items"]["properties"]["bits"]
    for spec in (bits_item, claims_bits):
        assert (spec["minimum"], spec["maximum"]) == (ALLOWED_BITS.start, ALLOWED_BITS.stop - 1)
    assert tuple(CHOICES["bits_per_param"]) == tuple(ALLOWED_BITS)
