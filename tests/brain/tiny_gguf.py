"""Writes a tiny random-weight Llama GGUF (about 0.5 MB) that llama.cpp loads in milliseconds.

Model hubs are unreachable and no Llama GGUF is on PyPI, so the tests make their own: the real
loading, tokenizing, sampling and grammar code runs on it. Its answers are noise, but output
constrained by a grammar is still valid JSON. Recipe: ../shared/notes/tiny-gguf.md.
"""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np

CONTEXT = 512
EMBEDDING = 64
BLOCKS = 2
FEED_FORWARD = 128
HEADS = 4
KV_HEADS = 2
HEAD_DIM = EMBEDDING // HEADS

# A few whole words so common text does not fall back to single characters everywhere.
WORDS = ("▁the", "▁a", "▁to", "▁intent", "▁book", "▁slots", "▁caller")

# Just enough of a chat template for `create_chat_completion` and for rendering a prompt prefix.
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}</s>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def vocabulary() -> tuple[list[str], list[float], list[int]]:
    """SentencePiece "llama"-style tokens, scores and types: control, 256 byte tokens, ▁, ASCII, words."""
    tokens = ["<unk>", "<s>", "</s>"]
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL]
    tokens += [f"<0x{b:02X}>" for b in range(256)]  # any UTF-8 text encodes through these
    types += [gguf.TokenType.BYTE] * 256
    pieces = ["▁", *(chr(c) for c in range(33, 127)), *WORDS]
    tokens += pieces
    types += [gguf.TokenType.NORMAL] * len(pieces)
    # SentencePiece merges toward higher scores: longer pieces win over single characters.
    scores = [0.0] * (3 + 256) + [-1000.0 + 10.0 * len(p) for p in pieces]
    return tokens, scores, [int(t) for t in types]


def write_tiny_llama(path: str | Path, seed: int = 7) -> Path:
    """Write the tiny model to `path` (F32, context 512, 2 blocks) and return the path."""
    path = Path(path)
    tokens, scores, types = vocabulary()
    rng = np.random.default_rng(seed)

    def weight(rows: int, cols: int, scale: float = 0.2) -> np.ndarray:
        # numpy shape (out, in); llama.cpp reads it as ne = (in, out)
        return (rng.standard_normal((rows, cols)) * scale).astype(np.float32)

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("dentra-tiny-test-llama")
    writer.add_context_length(CONTEXT)
    writer.add_embedding_length(EMBEDDING)
    writer.add_block_count(BLOCKS)
    writer.add_feed_forward_length(FEED_FORWARD)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(KV_HEADS)
    writer.add_rope_dimension_count(HEAD_DIM)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_vocab_size(len(tokens))
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_unk_token_id(0)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    writer.add_chat_template(CHAT_TEMPLATE)

    ones = np.ones(EMBEDDING, dtype=np.float32)
    writer.add_tensor("token_embd.weight", weight(len(tokens), EMBEDDING, 1.0))
    for i in range(BLOCKS):
        writer.add_tensor(f"blk.{i}.attn_norm.weight", ones)
        writer.add_tensor(f"blk.{i}.attn_q.weight", weight(EMBEDDING, EMBEDDING))
        writer.add_tensor(f"blk.{i}.attn_k.weight", weight(KV_HEADS * HEAD_DIM, EMBEDDING))
        writer.add_tensor(f"blk.{i}.attn_v.weight", weight(KV_HEADS * HEAD_DIM, EMBEDDING))
        writer.add_tensor(f"blk.{i}.attn_output.weight", weight(EMBEDDING, EMBEDDING))
        writer.add_tensor(f"blk.{i}.ffn_norm.weight", ones)
        writer.add_tensor(f"blk.{i}.ffn_gate.weight", weight(FEED_FORWARD, EMBEDDING))
        writer.add_tensor(f"blk.{i}.ffn_up.weight", weight(FEED_FORWARD, EMBEDDING))
        writer.add_tensor(f"blk.{i}.ffn_down.weight", weight(EMBEDDING, FEED_FORWARD))
    writer.add_tensor("output_norm.weight", ones)
    writer.add_tensor("output.weight", weight(len(tokens), EMBEDDING, 1.0))

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


if __name__ == "__main__":
    import sys

    print(write_tiny_llama(sys.argv[1] if len(sys.argv) > 1 else "tiny-llama.gguf"))
