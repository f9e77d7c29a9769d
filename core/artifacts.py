"""The torch objects kept in the artifact store, to and from their keys: a job's checkpoint, a model's generator
and card. models.checkpoint turns them into bytes; the store keeps the bytes."""

from __future__ import annotations

import json

import torch
from torch import nn

from core.store import ArtifactStore
from core.store.keys import CARD_FILE, GENERATOR_FILE, checkpoint_key, model_prefix
from models.checkpoint import generator_from_bytes, generator_to_bytes, state_from_bytes, state_to_bytes


def save_checkpoint(store: ArtifactStore, job_id: str, state: dict) -> None:
    """A training state (Trainer.state_dict()), replacing the job's previous one atomically."""
    store.put_bytes(checkpoint_key(job_id), state_to_bytes(state))


def load_checkpoint(store: ArtifactStore, job_id: str) -> dict | None:
    """The job's last training state, or None before its first checkpoint."""
    data = store.try_get_bytes(checkpoint_key(job_id))
    return None if data is None else state_from_bytes(data, f"job {job_id}'s checkpoint")


def publish_generator(store: ArtifactStore, generator: nn.Module, card: dict) -> None:
    """A trained model: its generator (weights, card in the metadata) and card.json, the manifest last, so
    that the model is served whole or not at all."""
    store.publish(model_prefix(card["id"]), {GENERATOR_FILE: generator_to_bytes(generator, card),
                                             CARD_FILE: card_json(card)})


def load_published_generator(store: ArtifactStore, model_id: str,
                             device: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """The model's generator and the card it was saved with, reading that one file (checked against the
    model's manifest). Raises ArtifactNotFound when the model is not (or no longer) published."""
    return generator_from_bytes(store.read_published(model_prefix(model_id), GENERATOR_FILE), device)


def replace_card(store: ArtifactStore, model_id: str, card: dict) -> bool:
    """card.json rewritten (an evaluation adds its figures); False when the model is gone from the store."""
    return store.replace_published(model_prefix(model_id), CARD_FILE, card_json(card))


def card_json(card: dict) -> bytes:
    return json.dumps(card, indent=2).encode()
