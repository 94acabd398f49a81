"""A results header cannot forget what made its numbers: the runner builds it — never a protocol — from the model's
settings (its checkpoint's fingerprint and attention kernel among them), every header field of the protocol's
settings and a fingerprint of every input read; a resume with any of them changed is refused, naming the field."""

import dataclasses
import json
import shutil
import typing
from types import SimpleNamespace

import pytest

from longllada_theory.cli import main
from longllada_theory.measure.protocol import PROTOCOLS, Protocol
from longllada_theory.models.fingerprint import checkpoint_fingerprint, file_digest
from longllada_theory.models.loading import load_model

from helpers import tiny_twin


def _other(field, value):
    """Another value of a settings field's type, or None where the test cannot make one."""
    kind = typing.get_args(field.type) if isinstance(field.type, typing._UnionGenericAlias) else ()
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value + 1.0
    if isinstance(value, str):
        choices = field.metadata.get("choices")
        choices = list(choices() if callable(choices) else choices or [])
        return next((c for c in choices if c != value), None) if choices else value + "x"
    if isinstance(value, tuple):
        return value + value[-1:] if value else None
    if value is None:
        return 1 if "int" in str(field.type) or int in kind else (0.5 if "float" in str(field.type) else None)
    return None


def _header_of(cls: type[Protocol], settings, inputs="inputs") -> dict:
    protocol = object.__new__(cls)
    protocol.loaded = SimpleNamespace(settings=lambda: {"model": "m", "checkpoint": {"files": {"w": "1"}}})
    protocol.settings, protocol.inputs = settings, inputs
    protocol.derived = lambda: {}
    return protocol.header()


@pytest.mark.parametrize("name", sorted(PROTOCOLS))
def test_every_header_field_of_every_protocol_and_its_inputs_change_the_header(name):
    cls = PROTOCOLS[name]
    settings = cls.settings_type()
    header = _header_of(cls, settings)
    assert header["model"] == "m" and header["checkpoint"] and "inputs" in header
    fields = [f for f in dataclasses.fields(settings) if f.metadata.get("header", True)]
    changed = 0
    for field in fields:
        other = _other(field, getattr(settings, field.name))
        if other is None:
            continue
        try:
            modified = dataclasses.replace(settings, **{field.name: other})
        except Exception:  # the settings refuse that value (a constraint between fields): try the next field
            continue
        assert _header_of(cls, modified) != header, field.name
        changed += 1
    assert changed >= len(fields) // 2, (changed, len(fields))
    assert _header_of(cls, settings, inputs="other inputs")["inputs"] != header["inputs"]


def test_a_protocol_cannot_write_its_own_header():
    with pytest.raises(TypeError, match="the runner builds every header"):
        class Rogue(Protocol):  # noqa: F841
            name = "rogue"

            def header(self):
                return {}


def test_the_checkpoint_fingerprint_sees_weights_of_another_seed(tmp_path):
    a, b = tiny_twin(tmp_path / "a", "ar", seed=0), tiny_twin(tmp_path / "b", "ar", seed=1)
    assert checkpoint_fingerprint(a) != checkpoint_fingerprint(b)
    assert checkpoint_fingerprint(a) == checkpoint_fingerprint(a) and "model.safetensors" in \
        checkpoint_fingerprint(a)["files"]
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(range(256)) * 40_000)  # 10 MB: its edges and 16 blocks are read, not the whole
    before = file_digest(big)
    size, edge, block = big.stat().st_size, 1 << 20, 1 << 16
    sampled = edge + 7 * (size - 2 * edge - block) // 15 + 100  # a byte in the 8th sampled block
    for offset, seen in ((sampled, True), (sampled + block, False), (size - 10, True)):
        data = bytearray(big.read_bytes())
        data[offset] ^= 1
        big.write_bytes(bytes(data))
        assert (file_digest(big) != before) == seen, offset
        data[offset] ^= 1
        big.write_bytes(bytes(data))


def _attention(model, out, *extra):
    return main(["attention", str(model), "--length", "512", "--niah-depth", "50", "--device", "cpu",
                 "--no-progress", "--output", str(out), *extra])


def test_a_resume_with_another_haystack_weights_or_kernel_is_refused_naming_it(tmp_path, capsys):
    """The attention protocol once wrote its own header without the haystack: a resume with another haystack reported
    the old number. Now the inputs, the checkpoint and the attention kernel are in every header."""
    model = tiny_twin(tmp_path / "twin", "diffusion")
    out = tmp_path / "attention.jsonl"
    assert _attention(model, out) == 0
    (tmp_path / "hay.txt").write_text("another haystack. " * 400)
    assert _attention(model, out, "--haystack", str(tmp_path / "hay.txt")) == 2
    assert "haystack" in capsys.readouterr().err
    shutil.copy(tiny_twin(tmp_path / "seed1", "diffusion", seed=1) / "model.safetensors", model / "model.safetensors")
    assert _attention(model, out) == 2
    assert "checkpoint" in capsys.readouterr().err
    ar, out2 = tiny_twin(tmp_path / "ar", "ar"), tmp_path / "kernel.jsonl"  # eager would make the diffusion twin causal
    assert _attention(ar, out2) == 0
    assert _attention(ar, out2, "--attn-implementation", "eager") == 2
    assert "attn_implementation" in capsys.readouterr().err
    header = json.loads(out2.read_text().splitlines()[0])
    assert header["created_by"]["package"].startswith("longllada-theory")


def test_the_header_names_the_extrapolation_bound_and_an_older_file_without_it_resumes(tmp_path):
    model = tiny_twin(tmp_path / "twin", "ar")  # T = 32, rotary dim 16, base 10⁴
    out = tmp_path / "attention.jsonl"
    assert _attention(model, out) == 0
    lines = out.read_text().splitlines()
    header = json.loads(lines[0])
    loaded = load_model(str(model), device="cpu", progress=False)
    assert header["settings"]["extrapolation_bound"] == pytest.approx(loaded.spec.reach, abs=0.1)
    del header["settings"]["extrapolation_bound"]
    out.write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n")
    before = out.read_text()
    assert _attention(model, out) == 0 and out.read_text() == before  # every cell done, nothing rewritten


def test_a_resume_with_an_edited_text_is_refused(tmp_path, capsys):
    model = tiny_twin(tmp_path / "twin", "ar")
    text, out = tmp_path / "text.txt", tmp_path / "ppl.jsonl"
    text.write_text("a text to score. " * 200)
    common = ["ppl", str(model), "--text", str(text), "--max-length", "128", "--chunk", "32", "--device", "cpu",
              "--no-progress", "--output", str(out)]
    assert main(common) == 0
    text.write_text("another text to score. " * 200)
    assert main(common) == 2
    assert "inputs" in capsys.readouterr().err
