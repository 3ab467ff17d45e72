"""septet: LLaMA-family inference through the C API (libseptet.so), by ctypes.

    import septet
    with septet.Model("stories260K.bin") as m:
        print(septet.generate(m, "Once upon a time", max_tokens=16, temperature=0).text)
        for piece in m.stream("Once upon a time", max_tokens=16, temperature=0):
            print(piece, end="")

Every C status other than SEPTET_OK raises SeptetError(status, message); the
message is the library's text naming the file, field or argument at fault.
"""
import ctypes
import queue
import threading
from dataclasses import dataclass, field
from typing import Callable, Iterator, List, Optional, Sequence, Union

from . import _lib

__all__ = ["SeptetError", "Model", "Context", "Generation", "generate", "tokenize", "detokenize", "stream",
           "abi_version", "version", "FINISH_REASONS"]

_L = _lib.load()

FINISH_REASONS = ("eos", "stop_string", "max_tokens", "context_full", "cancelled")  # septet_finish_reason order
_BUFFER_TOO_SMALL = 10


class SeptetError(RuntimeError):
    def __init__(self, status: int, message: str):
        self.status = status
        self.status_name = _L.septet_status_name(status).decode()
        super().__init__("%s: %s" % (self.status_name, message))


def _check(status: int) -> None:
    if status != 0:
        raise SeptetError(status, (_L.septet_last_error() or b"").decode("utf-8", "replace"))


def abi_version() -> int:
    return _L.septet_abi_version()


def version() -> str:
    return _L.septet_version().decode()


def _ids(ids: Sequence[int]):
    return (ctypes.c_int32 * len(ids))(*ids)


@dataclass
class Generation:
    text: str
    tokens: List[int] = field(default_factory=list)
    finish: str = "max_tokens"


class Context:
    """One sequence: a KV cache and the logits of the last evaluated token."""

    def __init__(self, model: "Model", n_ctx: int = 0, n_threads: int = 0):
        self._model = model  # the C side keeps the weights alive; this keeps the Python handle too
        p = _lib.ContextParams()
        _L.septet_context_params_init(ctypes.byref(p))
        p.n_ctx, p.n_threads = n_ctx, n_threads
        h = ctypes.c_void_p()
        _check(_L.septet_context_create(model._handle(), ctypes.byref(p), ctypes.byref(h)))
        self._h = h

    def _handle(self):
        if self._h is None:
            raise SeptetError(9, "this Context was closed")
        return self._h

    def close(self) -> None:
        if self._h is not None:
            _check(_L.septet_context_free(self._h))
            self._h = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    @property
    def n_past(self) -> int:
        v = ctypes.c_int64()
        _check(_L.septet_context_n_past(self._handle(), ctypes.byref(v)))
        return v.value

    @property
    def n_ctx(self) -> int:
        v = ctypes.c_int64()
        _check(_L.septet_context_n_ctx(self._handle(), ctypes.byref(v)))
        return v.value

    def truncate(self, n: int = 0) -> None:
        _check(_L.septet_context_truncate(self._handle(), n))

    def eval(self, ids: Sequence[int]) -> None:
        _check(_L.septet_eval(self._handle(), _ids(ids), len(ids)))

    def logits(self) -> List[float]:
        n = ctypes.c_size_t()
        st = _L.septet_get_logits(self._handle(), None, 0, ctypes.byref(n))
        if st != _BUFFER_TOO_SMALL:
            _check(st)
        buf = (ctypes.c_float * n.value)()
        _check(_L.septet_get_logits(self._handle(), buf, n.value, ctypes.byref(n)))
        return list(buf)

    def generate(self, prompt: Sequence[int], max_tokens: int = 128, temperature: float = 0.8, top_k: int = 40,
                 top_p: float = 0.95, min_p: float = 0.05, repeat_penalty: float = 1.0, repeat_window: int = 64,
                 seed: int = 0, stop_at_eos: bool = True,
                 on_text: Optional[Callable[[str], Optional[bool]]] = None) -> Generation:
        """Evaluates `prompt` (ids) after what the context holds and samples up to
        max_tokens ids. on_text(piece) gets the text as it is produced (whole UTF-8
        characters); returning False stops the run (finish = "cancelled")."""
        sp = _lib.SamplerParams()
        _L.septet_sampler_params_init(ctypes.byref(sp))
        sp.temperature, sp.top_k, sp.top_p, sp.min_p = temperature, top_k, top_p, min_p
        sp.repeat_penalty, sp.repeat_window, sp.seed = repeat_penalty, repeat_window, seed
        gp = _lib.GenerateParams()
        _L.septet_generate_params_init(ctypes.byref(gp))
        gp.max_tokens, gp.stop_at_eos, gp.sampler = max_tokens, int(stop_at_eos), ctypes.pointer(sp)
        pieces: List[bytes] = []
        raised: List[BaseException] = []

        def trampoline(text, n, _user):
            data = ctypes.string_at(text, n)
            pieces.append(data)
            if on_text is None:
                return 1
            try:
                return 0 if on_text(data.decode("utf-8", "replace")) is False else 1
            except BaseException as e:  # never unwind through C: stop, re-raise below
                raised.append(e)
                return 0

        cb = _lib.TEXT_CALLBACK(trampoline)
        out = (ctypes.c_int32 * max(max_tokens, 1))()
        n = ctypes.c_size_t()
        finish = ctypes.c_int()
        st = _L.septet_generate(self._handle(), _ids(prompt), len(prompt), ctypes.byref(gp), cb, None, out,
                                max(max_tokens, 0), ctypes.byref(n), ctypes.byref(finish))
        if raised:
            raise raised[0]
        _check(st)
        return Generation(b"".join(pieces).decode("utf-8", "replace"), list(out[:n.value]),
                          FINISH_REASONS[finish.value])


class Model:
    """A loaded model (weights + tokenizer) and one context for generate/stream."""

    def __init__(self, path: str, *, tokenizer_path: Optional[str] = None, compute_type: Optional[str] = None,
                 n_ctx: int = 0, n_threads: int = 0):
        o = _lib.ModelOptions()
        _L.septet_model_options_init(ctypes.byref(o))
        o.tokenizer_path = tokenizer_path.encode() if tokenizer_path else None
        o.compute_type = compute_type.encode() if compute_type else None
        h = ctypes.c_void_p()
        _check(_L.septet_model_load(str(path).encode(), ctypes.byref(o), ctypes.byref(h)))
        self._h = h
        self._n_ctx, self._n_threads = n_ctx, n_threads
        self._ctx: Optional[Context] = None

    def _handle(self):
        if self._h is None:
            raise SeptetError(9, "this Model was closed")
        return self._h

    def close(self) -> None:
        if self._ctx is not None:
            self._ctx.close()
            self._ctx = None
        if self._h is not None:
            _check(_L.septet_model_free(self._h))
            self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def _int(self, fn) -> int:
        v = ctypes.c_int32()
        _check(fn(self._handle(), ctypes.byref(v)))
        return v.value

    @property
    def vocab_size(self) -> int:
        return self._int(_L.septet_model_vocab_size)

    @property
    def bos(self) -> int:
        return self._int(_L.septet_model_bos)

    @property
    def eos(self) -> int:
        return self._int(_L.septet_model_eos)

    def new_context(self, n_ctx: Optional[int] = None, n_threads: Optional[int] = None) -> Context:
        return Context(self, self._n_ctx if n_ctx is None else n_ctx,
                       self._n_threads if n_threads is None else n_threads)

    def tokenize(self, text: str, add_bos: bool = True) -> List[int]:
        data = text.encode("utf-8")
        n = ctypes.c_size_t()
        st = _L.septet_tokenize(self._handle(), data, len(data), int(add_bos), None, 0, ctypes.byref(n))
        if st != _BUFFER_TOO_SMALL:
            _check(st)
            return []
        buf = (ctypes.c_int32 * n.value)()
        _check(_L.septet_tokenize(self._handle(), data, len(data), int(add_bos), buf, n.value, ctypes.byref(n)))
        return list(buf[:n.value])

    def detokenize(self, ids: Sequence[int]) -> str:
        n = ctypes.c_size_t()
        st = _L.septet_detokenize(self._handle(), _ids(ids), len(ids), None, 0, ctypes.byref(n))
        if st != _BUFFER_TOO_SMALL:
            _check(st)
        buf = ctypes.create_string_buffer(n.value + 1)
        _check(_L.septet_detokenize(self._handle(), _ids(ids), len(ids), buf, n.value + 1, ctypes.byref(n)))
        return buf.raw[:n.value].decode("utf-8", "replace")

    def _context(self) -> Context:
        if self._ctx is None:
            self._ctx = self.new_context()
        self._ctx.truncate(0)
        return self._ctx

    def generate(self, prompt: Union[str, Sequence[int]], **kw) -> Generation:
        """One completion of `prompt` (text, tokenized with BOS; or ids) from an
        empty KV cache. Keywords as Context.generate."""
        ids = self.tokenize(prompt) if isinstance(prompt, str) else list(prompt)
        return self._context().generate(ids, **kw)

    def stream(self, prompt: Union[str, Sequence[int]], **kw) -> Iterator[str]:
        """Yields the text of generate() piece by piece as it is produced. Leaving
        the loop early (break, close()) stops the generation."""
        ids = self.tokenize(prompt) if isinstance(prompt, str) else list(prompt)
        ctx = self._context()
        q: "queue.Queue" = queue.Queue(maxsize=64)
        stop = threading.Event()
        done = object()
        failure: List[BaseException] = []

        def on_text(piece: str) -> bool:
            while not stop.is_set():
                try:
                    q.put(piece, timeout=0.05)
                    return True
                except queue.Full:
                    continue
            return False

        def run():
            try:
                ctx.generate(ids, on_text=on_text, **kw)
            except BaseException as e:
                failure.append(e)
            finally:
                while True:  # the consumer may have stopped reading: never block forever
                    try:
                        q.put(done, timeout=0.05)
                        break
                    except queue.Full:
                        if stop.is_set():
                            break

        worker = threading.Thread(target=run, name="septet-stream", daemon=True)
        worker.start()
        try:
            while True:
                item = q.get()
                if item is done:
                    break
                yield item
        finally:
            stop.set()
            worker.join()
        if failure:
            raise failure[0]


def generate(model: Model, prompt: Union[str, Sequence[int]], **kw) -> Generation:
    return model.generate(prompt, **kw)


def stream(model: Model, prompt: Union[str, Sequence[int]], **kw) -> Iterator[str]:
    return model.stream(prompt, **kw)


def tokenize(model: Model, text: str, add_bos: bool = True) -> List[int]:
    return model.tokenize(text, add_bos)


def detokenize(model: Model, ids: Sequence[int]) -> str:
    return model.detokenize(ids)
