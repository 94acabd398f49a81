"""LLaDA's low-confidence remasking sampler and greedy decoding."""

import pytest
import torch

from longllada_theory import LongLLaDAError
from longllada_theory.measure.sampling import SamplerOptions, check_sampler, diffusion_generate, transfer_schedule

from helpers import FixedLossModel, fake_loaded, tiny_twin


def test_transfer_schedule_spreads_the_remainder_over_the_first_steps():
    assert transfer_schedule(10, 4) == [3, 3, 2, 2]
    assert transfer_schedule(32, 32) == [1] * 32
    assert sum(transfer_schedule(7, 3)) == 7


@pytest.mark.parametrize("gen, block, steps, message", [(30, 32, 32, "multiple of the block"),
                                                        (64, 32, 33, "multiple of the number of blocks"),
                                                        (0, 32, 32, "positive")])
def test_bad_sampler_lengths_are_refused(gen, block, steps, message):
    with pytest.raises(LongLLaDAError, match=message):
        check_sampler(gen, block, steps)


class Recorder(FixedLossModel):
    """Predicts the true token everywhere; its confidence rises with position, so low-confidence remasking must
    unmask the answer from its end backwards (one token per step)."""

    def __init__(self, tokens, vocab=8):
        super().__init__(tokens, [2.0 - 0.05 * i for i in range(len(tokens))], vocab)
        self.seen = []

    def forward(self, input_ids, logits_to_keep=None):
        self.seen.append(input_ids.clone())
        return super().forward(input_ids, logits_to_keep)


def test_low_confidence_remasking_keeps_the_most_confident_prediction_each_step():
    tokens = [1, 2, 3, 4, 5, 6, 1, 2, 3, 4]
    model = Recorder(tokens)
    loaded = fake_loaded(model, mask_token_id=7)
    (out,) = diffusion_generate(loaded, [tokens[:6]], SamplerOptions(gen_length=4, block_length=4, steps=4))
    assert out == tokens[6:]
    # after step 1 only the last answer position (highest confidence) is filled
    assert model.seen[1][0, 6:].tolist() == [7, 7, 7, 4]
    assert len(model.seen) == 4


def test_blocks_fill_left_to_right():
    tokens = [1, 2, 3, 4, 5, 6, 1, 2, 3, 4]
    model = Recorder(tokens)
    (out,) = diffusion_generate(fake_loaded(model, mask_token_id=7), [tokens[:6]],
                                SamplerOptions(gen_length=4, block_length=2, steps=2))
    assert out == tokens[6:]
    assert model.seen[1][0, 6:].tolist() == [1, 2, 7, 7]  # the first block is complete before the second starts


def test_sampler_and_greedy_on_real_twins_batched_like_one_by_one(tmp_path):
    from longllada_theory.measure.sampling import answers
    from longllada_theory.models.loading import load_model

    prompts = [list(range(65, 90)), list(range(70, 95)), list(range(40, 65))]
    diffusion = load_model(str(tiny_twin(tmp_path / "d", "diffusion")), device="cpu")
    batch = answers(diffusion, prompts, gen_length=8, block_length=4, steps=4, temperature=0.7, seeds=[3, 4, 5])
    assert all(len(a) == 8 and diffusion.mask_token_id not in a for a in batch)
    single = [answers(diffusion, [p], gen_length=8, block_length=4, steps=4, temperature=0.7, seeds=[s])[0]
              for p, s in zip(prompts, [3, 4, 5])]
    assert batch == single  # each row draws from its own seeded generator
    ar = load_model(str(tiny_twin(tmp_path / "a", "ar")), device="cpu")
    greedy = answers(ar, prompts, gen_length=5)
    with torch.no_grad():
        first = ar.model(input_ids=torch.tensor(prompts)).logits[:, -1].argmax(-1).tolist()
    assert [g[0] for g in greedy] == first and all(len(g) == 5 for g in greedy)


def test_prompts_of_different_lengths_are_refused(tmp_path):
    from longllada_theory.measure.sampling import answers
    from longllada_theory.models.loading import load_model

    ar = load_model(str(tiny_twin(tmp_path / "a", "ar")), device="cpu")
    with pytest.raises(LongLLaDAError, match="share one length"):
        answers(ar, [[1, 2, 3], [1, 2]], gen_length=2)
