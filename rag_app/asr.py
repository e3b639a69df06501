"""The ASR baseline SEAL replaces: Whisper transcription (greedy), then the text tower.

It uses the same Whisper weights as the SEAL speech tower, on the same device, so the
comparison is about the method, not the model. Standard Whisper decoding pads to 30 s.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

from rag_app.repeats import loops, repeating_tokens, repeats_a_phrase
from rag_app.sentences import first_sentence
from rag_app.settings import DECODER_SILENCE_S
from rag_app.shortlist import HalfShortlist
from seal_model.audio import SAMPLE_RATE

# Whisper's decoder on SEAL's trimmed states sometimes stops after a word or two ("What" for a 3 s
# question; babble at 10 dB did it): a reading far under the words a clip that long holds is that,
# not the question. People ask at ~2-3 words a second. 1.0 was chosen on 1,016 tuning clips reported
# nowhere (0.5-1.5 within 0.002 of each other, the smaller taken; docs/results/ood-generalisation, stop 32).
MIN_WORDS_PER_SECOND = 1.0


def token_budget(seconds: float) -> int:
    """The most tokens the decoder may write for a clip this long: 3.5 a second is fast speech, and
    a decoder that runs on past it is repeating itself (it does on trimmed states)."""
    return int(3.5 * seconds) + 8


def usable_reading(text: str, seconds: float) -> bool:
    """Whether the decoder's reading can stand for the question: not looping, not cut short."""
    words = len(re.findall(r"[\w']+", text))
    return words > 0 and words >= MIN_WORDS_PER_SECOND * seconds and not loops(text)


def looks_misread(first: str, finished: bool, seconds: float) -> bool:
    """Whether the decoder's reading of trimmed states looks wrong: not usable, a phrase said twice
    (the question read again, a stutter), or the token budget ran out before the first sentence
    ended. Whisper's padded pass rarely does any of these (docs/results/ood-generalisation, stop 34).
    A question that repeats a phrase itself ("Bye Bye Bye") is read again too: that costs time, and
    the padded pass gives the same words."""
    return not usable_reading(first, seconds) or repeats_a_phrase(first) or not finished


class WhisperTranscriber:
    def __init__(self, whisper_dir: str | Path, device: torch.device | str = "cpu", language: str = "en",
                 dtype: torch.dtype = torch.float32, silence_s: float = DECODER_SILENCE_S, retry: bool = False):
        from transformers import WhisperForConditionalGeneration, WhisperProcessor

        # seconds of silence the encoder pass whose states `decode_states` reads should append
        # (SealModel.embed_read_and_encode; see DECODER_SILENCE_S)
        self.silence_s = silence_s
        # decode_states: transcribe the clip the padded way when the decoder's reading looks wrong
        self.retry = retry

        self.processor = WhisperProcessor.from_pretrained(whisper_dir)
        self.model = WhisperForConditionalGeneration.from_pretrained(whisper_dir, dtype=dtype).to(device).eval()
        multilingual = bool(getattr(self.model.generation_config, "is_multilingual", False))
        # The knowledge base is English: telling a multilingual model so avoids language-ID errors.
        self.generate_kwargs = {"language": language, "task": "transcribe"} if multilingual else {}
        # <|startoftranscript|> [<|en|> <|transcribe|>] <|notimestamps|>: what generate() starts from
        self.prompt = [self.model.generation_config.decoder_start_token_id] + [
            token for _, token in self.processor.get_decoder_prompt_ids(**self.generate_kwargs)]
        weight = self.model.proj_out.weight
        # the same greedy tokens as the float32 output layer, for half its memory reads per token and
        # a 53 MB float16 copy (rag_app.shortlist)
        self.output_argmax = HalfShortlist(weight) if HalfShortlist.supported(weight) else None

    @torch.inference_mode()
    def decode_states(self, states: torch.Tensor, seconds: float, audio: np.ndarray | None = None) -> str:
        """Whisper's decoder on encoder states SEAL already computed on the trimmed clip (no 30 s
        encoder pass). Whisper was trained on padded input and, given only the speech, often
        repeats itself or runs on: the token budget follows the clip's length (`token_budget`), no
        3-gram may repeat, and only the first sentence is kept (a question), so the decoder stops once
        it is complete. A reading that `looks_misread` is replaced, when `retry` is on and the clip's
        `audio` is given, by the padded transcription (`transcribe`: ~1-1.7 s more on 2 CPU threads,
        for the few turns that need it); otherwise a looping or cut-short result comes back empty
        ("" = nothing usable: the caller keeps SEAL's reading)."""
        tokens = self.greedy_tokens(states[None].to(self.model.device, self.model.dtype), token_budget(seconds),
                                    until_sentence_end=True)
        text = self.processor.tokenizer.decode(tokens, skip_special_tokens=True).strip()
        first = first_sentence(text)
        # finished: it wrote its end, or the first sentence's end mark (the budget may run out right at "?")
        finished = tokens[-1] == self.model.generation_config.eos_token_id or first != text or text.endswith(("?", "!", "."))
        if self.retry and audio is not None and looks_misread(first, finished, seconds):
            return self.transcribe(audio)
        return first if usable_reading(first, seconds) else ""

    @torch.inference_mode()
    def greedy_tokens(self, encoder_states: torch.Tensor, max_new_tokens: int, until_sentence_end: bool = False) -> list[int]:
        """Greedy decoding as `generate()` does it for one clip (Whisper's prompt tokens, its
        suppressed tokens, no blank or end first, no repeated 3-gram), the prompt included in the result,
        one decoder call per token with a KV cache and none of generate()'s per-token machinery:
        0.41 s vs 0.55 s p50 on 20 held-out clips, same words. `until_sentence_end`: stop once the
        first sentence is complete (its end mark followed by a space: the token after it was
        written), where a caller keeping only that sentence cuts anyway; a decoder that says the
        question twice (1 clip in 5 on heldout-nq) then stops after the first."""
        from transformers.cache_utils import DynamicCache, EncoderDecoderCache

        config = self.model.generation_config
        tokens = list(self.prompt)
        cache = EncoderDecoderCache(DynamicCache(), DynamicCache())
        step = tokens
        while len(tokens) < len(self.prompt) + max_new_tokens:
            out = self.model.model.decoder(input_ids=torch.tensor([step], device=self.model.device),
                                           encoder_hidden_states=encoder_states, cache=cache, use_cache=True)
            hidden = out.last_hidden_state[0, -1]
            banned = list(config.suppress_tokens or []) + repeating_tokens(tokens, 3)
            if len(tokens) == len(self.prompt):
                banned += list(config.begin_suppress_tokens or [])
            if self.output_argmax is not None:
                token = self.output_argmax.argmax(hidden, banned)
            else:
                scores = self.model.proj_out(hidden).float()
                scores[banned] = -float("inf")
                token = int(scores.argmax())
            tokens.append(token)
            if token == config.eos_token_id or (until_sentence_end and self._first_sentence_done(tokens)):
                break
            step = [token]
        return tokens

    def _first_sentence_done(self, tokens: list[int]) -> bool:
        text = self.processor.tokenizer.decode(tokens, skip_special_tokens=True).strip()
        return first_sentence(text) != text

    @torch.inference_mode()
    def transcribe(self, audio: np.ndarray) -> str:
        features = self.processor.feature_extractor(audio, sampling_rate=SAMPLE_RATE, return_tensors="pt").input_features
        ids = self.model.generate(features.to(self.model.device, self.model.dtype), num_beams=1, do_sample=False, **self.generate_kwargs)
        return self.processor.batch_decode(ids, skip_special_tokens=True)[0].strip()
