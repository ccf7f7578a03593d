"""The local language model: one caller utterance in, an `Interpretation` (intent + slots) out.

The model never writes a reply: its output is constrained by a llama.cpp grammar to `SCHEMA`,
so all it can produce is the JSON the flows read. The static part of the prompt (instructions
and examples) is evaluated once at load and its KV state kept; every turn restores that state
and evaluates only the turn's own tokens. `llama_cpp` is imported lazily, so an appliance with
`[models] llm = ""` runs on rules alone without it.
"""

from __future__ import annotations

import ctypes
import json
import logging
import math
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance import models
from appliance.brain.interpretation import Interpretation, from_model_json
from appliance.brain.llm_prompt import INTENT_VALUE, output_gbnf, render_prompt, turn_text
from appliance.errors import ModelCorrupt, ModelError, ModelMissing

log = logging.getLogger(__name__)

MISSING_HINT = "run `dentra models fetch`, or set [models] llm = \"\" to answer with rules only"
CORRUPT_HINT = "delete it and run `dentra models fetch` again"

# When the intent's token probabilities cannot be read (should not happen), the answer is
# treated as neither sure nor unsure.
FALLBACK_CONFIDENCE = 0.5


def check_gguf(path: Path) -> None:
    """Raise ModelMissing / ModelCorrupt unless `path` is a readable file that starts like a GGUF."""
    if not path.is_file():
        raise ModelMissing(f"{path}: language model file not found; {MISSING_HINT}")
    try:
        with path.open("rb") as f:
            head = f.read(8)
    except OSError as e:
        raise ModelCorrupt(f"{path}: cannot read the language model ({e.strerror}); {CORRUPT_HINT}") from None
    if len(head) < 8 or head[:4] != b"GGUF":
        raise ModelCorrupt(f"{path}: not a GGUF model file (damaged or wrong file); {CORRUPT_HINT}")


@dataclass(frozen=True)
class TurnStats:
    """What the last `interpret` call cost: tokens in the prompt, tokens evaluated, time."""

    prompt_tokens: int
    evaluated_tokens: int  # tokens run through the model: the turn's prompt part + generated ones
    generated_tokens: int
    ms: float
    timed_out: bool


class LocalModel:
    """A GGUF model behind one lock; `interpret` turns an utterance into an Interpretation or None."""

    def __init__(self, llm: Any, prefix: list[int], suffix: str, path: Path):
        self._llm, self._suffix, self.path = llm, suffix, path
        self._lock = threading.Lock()
        self._grammar = _Grammar(llm, output_gbnf())
        started = time.perf_counter()
        llm.eval(prefix)
        self._prefix = _PrefixState(llm, prefix)
        self.prefix_tokens = len(prefix)
        self.prefix_eval_ms = (time.perf_counter() - started) * 1000  # what each turn no longer pays
        self.last_turn: TurnStats | None = None

    @classmethod
    def load(cls, path: str | Path, n_ctx: int = 2048, n_threads: int | None = None) -> LocalModel:
        """Load a GGUF and evaluate the static prompt once; ModelMissing / ModelCorrupt name the file.

        `n_threads` defaults to every core (llama-cpp-python's default is half): a turn took 515 ms
        with 2 threads and 708 ms with 1 on the 2-core bench box (Gemma 3 270M).
        """
        path = Path(path)
        n_threads = n_threads or os.cpu_count() or 1
        check_gguf(path)
        try:
            import llama_cpp
        except ImportError as e:
            raise ModelError(f"llama-cpp-python is not installed ({e}); run scripts/dev.sh install",
                             code="model-runtime-missing") from None
        try:
            llm = llama_cpp.Llama(model_path=str(path), n_ctx=n_ctx, n_threads=n_threads, verbose=False)
        except (ValueError, RuntimeError) as e:
            raise ModelCorrupt(f"{path}: llama.cpp cannot load it, the file is damaged or incomplete ({e}); "
                               f"{CORRUPT_HINT}") from None
        prefix, suffix = render_prompt(llm, llama_cpp)
        return cls(llm, prefix, suffix, path)

    @classmethod
    def from_config(cls, config: Any, data_dir: str | Path, **kw: Any) -> LocalModel | None:
        """The model named by `[models] llm` under the models dir, or None when it is empty (rules only)."""
        settings = config.models
        if not settings.llm:
            return None
        return cls.load(models.resolve(settings.llm, "llm", models.models_dir(config, data_dir)), **kw)

    def interpret(self, utterance: str, expects: str, context: str = "", *, timeout_s: float = 3.0,
                  max_tokens: int = 128, reuse_prefix: bool = True) -> Interpretation | None:
        """Intent and slots for one utterance; None when the model is busy past the deadline, too slow or unusable.

        `reuse_prefix=False` re-evaluates the whole prompt (only for measuring what the saved state saves).
        """
        started = time.perf_counter()
        if not self._lock.acquire(timeout=max(timeout_s, 0)):
            return None
        try:
            return self._interpret(utterance, expects, context, started, started + timeout_s, max_tokens,
                                   reuse_prefix)
        except (RuntimeError, ValueError) as e:  # llama.cpp failed to decode: the turn goes on without the model
            log.warning("local model failed on a turn: %s", e)
            return None
        finally:
            self._lock.release()

    def _interpret(self, utterance, expects, context, started, deadline, max_tokens, reuse_prefix):
        llm = self._llm
        turn = self.turn_tokens(utterance, expects, context)
        prompt = self._prefix.tokens + turn
        if len(prompt) + max_tokens > llm.n_ctx():
            return None
        if reuse_prefix and self._prefix.restore(llm):
            to_eval = turn
        else:
            llm.reset()  # the whole prompt is evaluated again: slower, same answer
            to_eval = prompt
        llm.eval(to_eval)
        out = self._grammar.generate(llm, max_tokens, deadline)
        self.last_turn = TurnStats(len(prompt), len(to_eval) + out.fed, len(out.tokens),
                                   round((time.perf_counter() - started) * 1000, 2), out.timed_out)
        if not out.complete:
            return None
        return from_model_json(out.data, source="llm", confidence=out.confidence)

    def turn_tokens(self, utterance: str, expects: str, context: str = "") -> list[int]:
        """The turn's tokens after the prefix. The caller's words are tokenized as plain text, so
        "<|eot_id|>" said or typed by a caller cannot close the message; only the template's own
        text after the turn may hold special tokens."""
        said = self._llm.tokenize(turn_text(utterance, expects, context).encode(), add_bos=False, special=False)
        return said + self._llm.tokenize(self._suffix.encode(), add_bos=False, special=True)

    def close(self) -> None:
        """Free the native grammar sampler and the model."""
        with self._lock:
            self._grammar.close()
            self._llm.close()


@dataclass
class _Output:
    tokens: list[int]
    fed: int = 0  # generated tokens evaluated to get the next one
    data: Any = None
    complete: bool = False
    timed_out: bool = False
    confidence: float = FALLBACK_CONFIDENCE


class _Grammar:
    """Greedy decoding under a llama.cpp grammar, checking the model's own choice first.

    Masking the whole vocabulary with the grammar at every step costs about 60 ms a token with
    Gemma's 262k-token vocabulary on 2 cores; the model's top token is almost always allowed, so
    it is checked alone and the full mask is applied only when it is refused (as llama.cpp's own
    sampler does). Every token kept has passed the grammar, so the output is always valid JSON.
    """

    def __init__(self, llm: Any, gbnf: str):
        import numpy as np  # comes with llama-cpp-python

        lc = _llama_cpp()
        self.np, self.lc = np, lc
        self.vocab = lc.llama_model_get_vocab(llm.model)
        self.sampler = lc.llama_sampler_init_grammar(self.vocab, gbnf.encode(), b"root")
        if not self.sampler:
            raise ModelError("llama.cpp refused the output grammar", code="model-grammar-invalid")
        self.n_vocab = llm.n_vocab()
        self.all = np.zeros(self.n_vocab, dtype=[("id", np.intc), ("logit", np.single), ("p", np.single)])
        self.one = (lc.llama_token_data * 1)()

    def _allowed(self, token: int) -> bool:
        self.one[0].id, self.one[0].logit = token, 0.0
        arr = self.lc.llama_token_data_array(data=self.one, size=1, selected=-1, sorted=False)
        self.lc.llama_sampler_apply(self.sampler, ctypes.byref(arr))
        return self.one[0].logit != -math.inf

    def _best_allowed(self, logits: Any) -> int:
        self.all["id"] = self.np.arange(self.n_vocab)
        self.all["logit"] = logits
        data = self.all.ctypes.data_as(self.lc.llama_token_data_p)
        arr = self.lc.llama_token_data_array(data=data, size=self.n_vocab, selected=-1, sorted=False)
        self.lc.llama_sampler_apply(self.sampler, ctypes.byref(arr))
        best = int(self.all["logit"].argmax())
        # nothing allowed (cannot happen with this grammar): accepting a refused token would abort llama.cpp
        return int(self.all["id"][best]) if self.all["logit"][best] != -math.inf else -1

    def generate(self, llm: Any, max_tokens: int, deadline: float) -> _Output:
        """Tokens after the evaluated prompt until the JSON closes, `max_tokens`, or the deadline."""
        np, lc = self.np, self.lc
        lc.llama_sampler_reset(self.sampler)
        out, text, logprobs, intent_known = _Output([]), b"", [], False
        for _ in range(max_tokens):
            if time.perf_counter() > deadline:
                out.timed_out = True
                return out
            logits = np.ctypeslib.as_array(lc.llama_get_logits_ith(llm.ctx, -1), shape=(self.n_vocab,))
            token = int(logits.argmax())
            if not self._allowed(token):
                token = self._best_allowed(logits)
                if token < 0:
                    return out
            lc.llama_sampler_accept(self.sampler, token)
            if lc.llama_vocab_is_eog(self.vocab, token):
                break
            out.tokens.append(token)
            text += llm.detokenize([token])
            if not intent_known:
                # the model's own probability for its token, before the grammar narrowed the choice
                top = float(logits.max())
                logprobs.append(float(logits[token]) - top - math.log(float(np.exp(logits - top).sum())))
                found = intent_confidence(llm, out.tokens, logprobs)
                if found is not None:
                    out.confidence, intent_known = found, True
            if text.rstrip().endswith(b"}") and _parses(text, out):
                return out
            llm.eval([token])
            out.fed += 1
        _parses(text, out)
        return out

    def close(self) -> None:
        if self.sampler:
            self.lc.llama_sampler_free(self.sampler)
            self.sampler = None


def _parses(text: bytes, out: _Output) -> bool:
    try:
        out.data = json.loads(text.decode("utf-8"))
    except ValueError:
        return False
    out.complete = True
    return True


def intent_confidence(llm: Any, tokens: list[int], logprobs: list[float]) -> float | None:
    """Joint probability of the tokens spelling the intent value and its closing quote; None until written.

    The probabilities are the model's own, before the grammar narrows them: a model that would
    have said something else entirely gets a low confidence, and the flows can ask again or use
    the cloud fallback.
    """
    pieces = [llm.detokenize([t]).decode("utf-8", "replace") for t in tokens]
    match = INTENT_VALUE.search("".join(pieces))
    if not match:
        return None
    start, end, pos, total = match.start(1), match.end(1) + 1, 0, 0.0
    for piece, logprob in zip(pieces, logprobs, strict=False):
        if pos < end and pos + len(piece) > start:
            total += logprob
        pos += len(piece)
    return max(round(math.exp(total), 4), 0.0001)


class _PrefixState:
    """The KV cache of the static prompt, saved once after evaluating it and restored before each turn.

    `Llama.save_state()` / `load_state()` would also copy llama-cpp-python's logits buffer
    (n_batch x n_vocab floats: 537 MB for Gemma 3's vocabulary, 262 MB for Llama 3's), which took
    0.4-4 s per restore here; llama.cpp's per-sequence state holds only the KV cells (~10 MB).
    """

    def __init__(self, llm: Any, tokens: list[int]):
        lc = _llama_cpp()
        self.tokens = list(tokens)
        size = lc.llama_state_seq_get_size(llm.ctx, 0)
        self._data = (ctypes.c_uint8 * size)()
        self._size = lc.llama_state_seq_get_data(llm.ctx, self._data, size, 0)
        if not self._size:
            raise ModelError("llama.cpp could not save the prompt state", code="model-state-failed")

    def restore(self, llm: Any) -> bool:
        """Put the prefix back in sequence 0, so the next evaluation starts right after it."""
        if not _llama_cpp().llama_state_seq_set_data(llm.ctx, self._data, self._size, 0):
            return False
        llm.n_tokens = len(self.tokens)
        llm.input_ids[: len(self.tokens)] = self.tokens
        return True


def _llama_cpp() -> Any:
    import llama_cpp

    return llama_cpp
