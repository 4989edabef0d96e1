"""Sentence embeddings from the all-MiniLM-L6-v2 model shipped inside the package.

The model is a 23 MB int8 ONNX file (made once by scripts/export-grader-model)
run with onnxruntime and a Hugging Face `tokenizers` tokenizer: no torch, no
download, no network. It is loaded on first use, not at import, so a bot that
never grades (or runs only commands) does not pay its memory; a lock keeps two
worker threads from loading it twice. Calls are synchronous and CPU-bound:
callers on the event loop run them through `asyncio.to_thread`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

MODEL_DIR = Path(__file__).resolve().parent / "model"
MAX_TOKENS = 128  # MiniLM was trained on 128-token inputs; a sentence rarely needs more


class ModelMissing(RuntimeError):
    """The shipped model files are not where the package put them (a broken install)."""


class Embedder:
    def __init__(self, model_dir: Path = MODEL_DIR, cache_size: int = 4096) -> None:
        self._dir = model_dir
        self._lock = threading.Lock()
        self._session: Any = None
        self._tokenizer: Any = None
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size

    def _load(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            model, vocab = self._dir / "model.onnx", self._dir / "tokenizer.json"
            if not model.exists() or not vocab.exists():
                raise ModelMissing(f"grader model not found in {self._dir}; reinstall mlsd-bot")
            import onnxruntime
            from tokenizers import Tokenizer

            tokenizer = Tokenizer.from_file(str(vocab))
            tokenizer.enable_truncation(MAX_TOKENS)
            tokenizer.enable_padding()
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = 1  # one answer at a time; leave the other core to the bot
            options.inter_op_num_threads = 1
            self._tokenizer = tokenizer
            self._session = onnxruntime.InferenceSession(
                str(model), options, providers=["CPUExecutionProvider"]
            )

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length embeddings, one row per text (mean pooling, as the model was trained)."""
        import numpy as np

        if self._session is None:
            self._load()
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            for text, vector in zip(missing, self._run(missing), strict=True):
                self._cache[text] = vector
                if len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        for t in texts:
            self._cache.move_to_end(t)
        return np.stack([self._cache[t] for t in texts]) if texts else np.zeros((0, 384), dtype=np.float32)

    def _run(self, texts: list[str]) -> np.ndarray:
        import numpy as np

        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        (hidden,) = self._session.run(
            ["last_hidden_state"],
            {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
        )
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)


@lru_cache(maxsize=1)
def shared_embedder() -> Embedder:
    """One model per process: it is read-only, and each copy costs ~30 MB once loaded."""
    return Embedder()
