"""A tiny causal language model built on the spot: a deterministic stand-in for examples and tests.

No weights can be downloaded here, yet perplexity, the transformers adapter and the
lm-evaluation-harness comparison all need a real transformers model on disk. `build_tiny_lm`
makes one in a second or two: a byte-level BPE tokenizer trained locally with the `tokenizers`
library (any English or Korean text encodes, byte by byte at worst) and a two-layer GPT-2 with
weights drawn from a fixed seed, optionally fitted for a few steps on the same texts so that its
scores are not uniform noise. It knows nothing about language beyond those few dozen sentences;
its config says so (`nb_mlops_tiny_lm`), and the adapter reports that tag as the model's version.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nb_mlops.evals.model import EvalError
from nb_mlops.evals.torch_state import quiet_transformers, seeded

TAG = "nb-mlops/tiny-lm"
"""What the config of every model built here carries, so that no one takes it for a real LM."""

EOS = "<|endoftext|>"
PAD = "<pad>"

CORPUS: tuple[str, ...] = (
    # English: plain facts and everyday scenes, short enough to be learned in a few steps.
    "The sun rises in the east and sets in the west.",
    "Water boils at one hundred degrees Celsius at sea level.",
    "A week has seven days and a year has twelve months.",
    "The cat sleeps on the warm mat by the window.",
    "Plants take in light and water to make their food.",
    "Seoul is the capital city of South Korea.",
    "Paris is the capital city of France.",
    "The moon goes around the earth about once a month.",
    "Ice is water that has frozen into a solid.",
    "A triangle has three sides and a square has four sides.",
    "Bees carry pollen from one flower to the next.",
    "She reads a book in the library every morning.",
    "The train to Busan leaves at nine in the morning.",
    "Two plus two is four, and three plus three is six.",
    "Whales are mammals that live in the sea.",
    "Rain falls from clouds when the air cools down.",
    "The children play football in the park after school.",
    "Iron is a metal that rusts when it meets water and air.",
    "A good model is measured on data it has never seen.",
    "He drinks a cup of green tea before work.",
    "Sound travels faster in water than in air.",
    "The library closes at six on Saturday evenings.",
    # Korean: the same kinds of sentences, with particles the tokenizer has to learn.
    "해는 동쪽에서 뜨고 서쪽으로 진다.",
    "물은 바다 높이에서 섭씨 백 도에 끓는다.",
    "일주일은 칠 일이고 일 년은 열두 달이다.",
    "고양이가 창가의 따뜻한 방석 위에서 잔다.",
    "식물은 빛과 물로 양분을 만든다.",
    "서울은 대한민국의 수도이다.",
    "파리는 프랑스의 수도이다.",
    "달은 약 한 달에 한 번 지구를 돈다.",
    "얼음은 물이 얼어서 된 고체이다.",
    "삼각형은 변이 세 개이고 사각형은 변이 네 개이다.",
    "벌은 꽃가루를 이 꽃에서 저 꽃으로 옮긴다.",
    "그녀는 매일 아침 도서관에서 책을 읽는다.",
    "부산행 기차는 아침 아홉 시에 떠난다.",
    "이 더하기 이는 사이고 삼 더하기 삼은 육이다.",
    "고래는 바다에 사는 포유류이다.",
    "공기가 식으면 구름에서 비가 내린다.",
    "아이들은 방과 후에 공원에서 축구를 한다.",
    "학생들은 학교에 가서 수학과 과학을 배운다.",
    "좋은 모델은 처음 보는 데이터로 평가한다.",
    "그는 출근하기 전에 녹차를 한 잔 마신다.",
    "소리는 공기보다 물에서 더 빨리 전달된다.",
    "도서관은 토요일 저녁 여섯 시에 문을 닫는다.",
)
"""The default training text: our own sentences, half English and half Korean."""


def build_tiny_lm(
    folder: str | Path,
    texts: Sequence[str] | None = None,
    *,
    seed: int = 0,
    n_layer: int = 2,
    n_embd: int = 32,
    n_head: int = 2,
    n_positions: int = 256,
    vocab_size: int = 1000,
    train_steps: int = 0,
    learning_rate: float = 1e-2,
) -> Path:
    """Build a tiny GPT-2 and its tokenizer into `folder` and return the folder.

    A deterministic stand-in for examples and tests, not a language model: the tokenizer is a
    byte-level BPE trained on `texts` (default `CORPUS`, English and Korean), at most
    `vocab_size` entries; the model is `GPT2LMHeadModel(GPT2Config(...))` with weights drawn
    from `seed` (dropout off), then fitted for `train_steps` full-batch Adam steps on the texts
    (0: left random; 100 steps, a few seconds, fit nearly every sentence from a prompt's
    start). The folder loads with `AutoModelForCausalLM.from_pretrained` /
    `AutoTokenizer.from_pretrained` and with lm-evaluation-harness's `hf` model. Nothing is
    downloaded; the same arguments give the same weights.
    """
    lines = [str(t) for t in (CORPUS if texts is None else texts) if str(t).strip()]
    if not lines:
        raise EvalError("build_tiny_lm: give at least one non-empty text to train the tokenizer")
    if n_embd % n_head:
        raise EvalError(f"build_tiny_lm: n_embd {n_embd} is not a multiple of n_head {n_head}")
    if train_steps < 0:
        raise EvalError(f"build_tiny_lm: train_steps must be >= 0, got {train_steps}")
    try:
        import torch
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
        from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast
    except ImportError as exc:
        raise EvalError(
            f"build_tiny_lm needs transformers, tokenizers and torch ({exc.name} is missing): "
            'pip install "nb-mlops[eval]"'
        ) from None

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS, PAD],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(lines, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token=EOS,
        eos_token=EOS,
        pad_token=PAD,
        model_max_length=n_positions,
    )
    eos_id = tokenizer.convert_tokens_to_ids(EOS)
    pad_id = tokenizer.convert_tokens_to_ids(PAD)

    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=n_positions,
        n_embd=n_embd,
        n_layer=n_layer,
        n_head=n_head,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=eos_id,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
    )
    config.nb_mlops_tiny_lm = {
        "tag": TAG,
        "note": "a deterministic stand-in built locally for examples and tests; not a real LM",
        "seed": seed,
        "train_steps": train_steps,
        "texts": len(lines),
    }
    with quiet_transformers(), seeded(torch, seed):
        model = GPT2LMHeadModel(config)
        if train_steps:
            ids = [[*tokenizer.encode(line), eos_id] for line in lines]
            rows = [r[:n_positions] for r in ids] + [[eos_id, *r][:n_positions] for r in ids]
            _fit(torch, model, rows, train_steps, learning_rate)
        model.eval()
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
    return out


def tag_of(config: Any) -> str | None:
    """The tiny-LM tag a model config carries ("nb-mlops/tiny-lm seed=0 steps=50"), else None."""
    info = getattr(config, "nb_mlops_tiny_lm", None)
    if not isinstance(info, dict) or info.get("tag") != TAG:
        return None
    return f"{TAG} seed={info.get('seed')} steps={info.get('train_steps')}"


def _fit(torch: Any, model: Any, rows: list[list[int]], steps: int, lr: float) -> None:
    """Full-batch Adam steps of next-token prediction, on one thread: the float sums then do
    not depend on the machine's core count, so the same arguments give the same weights.

    Each text is a row of its own, once from position 0 (a prompt's start) and once after EOS
    (an empty context, perplexity's prefix): a model this small learns positions as much as
    words, so one long stream cut into windows would teach it sentences only where they fell.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _steps(torch, model, rows, steps, lr)
    finally:
        torch.set_num_threads(threads)


def _steps(torch: Any, model: Any, rows: list[list[int]], steps: int, lr: float) -> None:
    rows = [r for r in rows if len(r) > 1]
    width = max(len(r) for r in rows)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    for i, row in enumerate(rows):
        labels[i, : len(row)] = torch.tensor(row)
    inputs = labels.clamp(min=0)  # padding after a row's end: never a target, never seen by it
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        optimizer.zero_grad()
        model(input_ids=inputs, labels=labels).loss.backward()
        optimizer.step()
