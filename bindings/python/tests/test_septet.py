"""pytest of the Python binding against the stories260K float64 oracle
(tests/model_oracle_test.cc). The model path: SEPTET_STORIES, else
$SEPTET_SHARED/models/stories260K/stories260K.bin (default ../shared)."""
import os
import pathlib
import subprocess
import sys

import pytest

import septet

PROMPT = [1, 403, 407, 261, 378]  # BOS "Once upon a time"
GREEDY = [432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396, 267, 337]


def _model_path() -> str:
    if os.environ.get("SEPTET_STORIES"):
        return os.environ["SEPTET_STORIES"]
    shared = os.environ.get("SEPTET_SHARED") or str(pathlib.Path(__file__).resolve().parents[4] / "shared")
    return os.path.join(shared, "models", "stories260K", "stories260K.bin")


@pytest.fixture(scope="module")
def model():
    with septet.Model(_model_path(), n_ctx=64, n_threads=1) as m:
        yield m


def test_abi_and_version():
    assert septet.abi_version() == 1
    assert septet.version()


def test_tokenize_detokenize(model):
    assert septet.tokenize(model, "Once upon a time") == PROMPT
    assert model.tokenize("Once upon a time", add_bos=False) == PROMPT[1:]
    assert septet.detokenize(model, PROMPT) == "Once upon a time"
    assert model.tokenize("") == [1]
    assert (model.vocab_size, model.bos, model.eos) == (512, 1, 2)


def test_generate_greedy_matches_oracle(model):
    g = septet.generate(model, "Once upon a time", max_tokens=16, temperature=0)
    assert g.tokens == GREEDY
    assert g.finish == "max_tokens"
    assert g.text.endswith(model.detokenize(GREEDY))
    # From ids, and a second call starts from an empty cache again.
    assert model.generate(PROMPT, max_tokens=16, temperature=0).tokens == GREEDY


def test_eval_logits_argmax_matches_oracle(model):
    ctx = model.new_context()
    with pytest.raises(septet.SeptetError, match="SEPTET_ERR_NO_LOGITS"):
        ctx.logits()
    ctx.eval(PROMPT)
    got = []
    for _ in range(16):
        logits = ctx.logits()
        assert len(logits) == 512
        nxt = max(range(len(logits)), key=logits.__getitem__)
        got.append(nxt)
        ctx.eval([nxt])
    assert got == GREEDY
    assert ctx.n_past == 5 + 16
    ctx.close()


def test_stream_yields_the_generated_text(model):
    whole = model.generate("Once upon a time", max_tokens=16, temperature=0).text
    pieces = list(septet.stream(model, "Once upon a time", max_tokens=16, temperature=0))
    assert len(pieces) > 1
    assert "".join(pieces) == whole


def test_stream_stops_when_the_consumer_leaves(model):
    it = model.stream("Once upon a time", max_tokens=64, temperature=0)
    first = [next(it) for _ in range(3)]
    it.close()  # stops the generation thread; the model is usable again
    assert "".join(first)
    assert model.generate(PROMPT, max_tokens=16, temperature=0).tokens == GREEDY


def test_callback_can_cancel(model):
    seen = []
    g = model.generate(PROMPT, max_tokens=16, temperature=0, on_text=lambda t: seen.append(t) or len(seen) < 2)
    assert g.finish == "cancelled"
    assert len(seen) == 2


def test_callback_exception_propagates(model):
    def boom(_text):
        raise ValueError("from the callback")

    with pytest.raises(ValueError, match="from the callback"):
        model.generate(PROMPT, max_tokens=4, temperature=0, on_text=boom)


def test_seeded_sampling_reproduces(model):
    a = model.generate(PROMPT, max_tokens=16, temperature=1.0, seed=7).tokens
    b = model.generate(PROMPT, max_tokens=16, temperature=1.0, seed=7).tokens
    assert a == b


def test_errors_name_what_is_wrong(model, tmp_path):
    missing = str(tmp_path / "nope.bin")
    with pytest.raises(septet.SeptetError, match="nope.bin") as e:
        septet.Model(missing)
    assert e.value.status_name == "SEPTET_ERR_NOT_FOUND"
    with pytest.raises(septet.SeptetError, match="top_p"):
        model.generate(PROMPT, max_tokens=4, top_p=0.0)
    with pytest.raises(septet.SeptetError, match="tokens\\[0\\] = 9999"):
        model.detokenize([9999])
    small = model.new_context(n_ctx=4)
    with pytest.raises(septet.SeptetError, match="n_ctx = 4"):
        small.eval(PROMPT)


def test_closed_model_is_refused():
    m = septet.Model(_model_path(), n_ctx=16, n_threads=1)
    m.close()
    m.close()  # a second close is a no-op
    with pytest.raises(septet.SeptetError, match="closed"):
        m.tokenize("x")


def test_missing_library_is_named():
    env = dict(os.environ, SEPTET_LIB="/nonexistent/libseptet.so",
               PYTHONPATH=str(pathlib.Path(septet.__file__).resolve().parents[1]))
    r = subprocess.run([sys.executable, "-c", "import septet"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "/nonexistent/libseptet.so" in r.stderr and "SEPTET_LIB" in r.stderr
