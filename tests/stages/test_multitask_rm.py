"""The multi-task reward trainer trains on exactly the loss the tests check."""
from __future__ import annotations

import pytest
import torch
from datasets import Dataset
from transformers import LlamaConfig, LlamaForSequenceClassification
from trl import RewardConfig

from rlhf_nb.stages import multitask_rm
from rlhf_nb.stages.multitask_rm import MultiTaskRewardTrainer, multitask_loss
from rlhf_nb.tasks.tokenizer import build_char_tokenizer


@pytest.fixture()
def trainer(tmp_path):
    tokenizer = build_char_tokenizer()
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64, num_labels=1,
                         pad_token_id=tokenizer.pad_token_id)
    model = LlamaForSequenceClassification(config)
    ids = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    data = Dataset.from_dict({"chosen_ids": [ids("1+2=3"), ids("2+2=4"), ids("3+4=7"), ids("5+1=6")],
                              "rejected_ids": [ids("1+2=4"), ids("2+2=5"), ids("3+4=8"), ids("5+1=5")]})
    args = RewardConfig(output_dir=str(tmp_path), per_device_train_batch_size=4, report_to=[], use_cpu=True,
                        bf16=False, max_length=32, disable_dropout=True)
    return MultiTaskRewardTrainer(model=model, args=args, train_dataset=data, processing_class=tokenizer,
                                  bce_weight=0.7)


def _batch(trainer):
    return next(iter(trainer.get_train_dataloader()))


def test_the_trainer_loss_is_multitask_loss_of_its_scores(trainer):
    batch = _batch(trainer)
    loss, outputs = trainer.compute_loss(trainer.model, dict(batch), return_outputs=True)
    chosen, rejected = torch.chunk(outputs.logits.squeeze(-1), chunks=2)
    assert loss.item() == pytest.approx(multitask_loss(chosen, rejected, 0.7).item(), rel=1e-6)


def test_the_trainer_calls_the_tested_function(trainer, monkeypatch):
    calls = []

    def spy(chosen, rejected, bce_weight):
        calls.append(bce_weight)
        return torch.tensor(123.0)

    monkeypatch.setattr(multitask_rm, "multitask_loss", spy)
    assert trainer.compute_loss(trainer.model, dict(_batch(trainer))).item() == 123.0
    assert calls == [0.7]
