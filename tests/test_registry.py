"""The network registry: every model.assignment builds its network with only its own arguments,
and every network declares the interface the loss, inference and export read."""

import inspect

import pytest

from src.config import ConfigError
from src.models import NETWORKS, RestorationNet, build_network, network_config, resolved_model_config
from src.models.encoder import Encoder
from src.models.registry import register_network

TINY = {"preset": "tiny"}
# (assignment) -> (recognition, contrast, fused, blind, needs_task) of the default switches
INTERFACE = {
    "smartassign": (True, True, False, False, False),
    "hard": (True, False, False, False, False),
    "cross_stitch": (True, False, True, True, False),
    "task_param": (True, False, False, True, True),
}


def test_every_assignment_is_registered():
    assert set(NETWORKS) == set(INTERFACE)


@pytest.mark.parametrize("assignment", sorted(INTERFACE))
def test_network_declares_its_interface(assignment):
    net = build_network(dict(TINY, assignment=assignment), seed=0)
    assert isinstance(net, RestorationNet)
    assert (net.recognition, net.contrast, net.fused, net.blind, net.needs_task) == INTERFACE[assignment]
    assert net.multiple == 32 and net.encoder_parameters()
    before_heads = {p.name for p in net.encoder_parameters()}  # K1/K2 freeze exactly these
    prefixes = {
        "smartassign": ("encoder.", "gkfm_"),
        "hard": ("encoder.",),
        "cross_stitch": ("encoder_", "stitch."),
        "task_param": ("encoder.",),
    }[assignment]
    assert before_heads == {p.name for p in net.get_parameters() if p.name.startswith(prefixes)}


@pytest.mark.parametrize("assignment", sorted(INTERFACE))
def test_each_network_gets_only_its_own_arguments(assignment):
    name, kwargs = network_config(dict(TINY, assignment=assignment, contrast=True, cross_stitch_fixed=True))
    takes = inspect.signature(NETWORKS[name]).parameters
    assert name == assignment and set(kwargs) <= set(takes)
    assert set(kwargs["encoder"]) <= set(inspect.signature(Encoder).parameters)
    assert kwargs["encoder"]["embed_dim"] == 48 and "drm_dim" not in kwargs["encoder"]
    strategy = assignment in ("cross_stitch", "task_param")
    assert strategy == ("drm_grid" not in kwargs) == ("contrast" not in kwargs)
    assert ("cross_stitch_fixed" in kwargs) == (assignment == "cross_stitch")


def test_switches_off_the_network_are_refused_or_resolved():
    with pytest.raises(ConfigError, match="head_input.*needs model.assignment=smartassign"):
        network_config(dict(TINY, assignment="cross_stitch", head_input="unique"))
    with pytest.raises(ConfigError, match="model.assignment='nope'; choose one of .*task_param"):
        network_config(dict(TINY, assignment="nope"))
    with pytest.raises(ConfigError, match="model.preset='huge'"):
        network_config({"preset": "huge"})
    _, kw = network_config(dict(TINY, embed_dim=32, attention="topk", topk_fractions=[0.5]))
    assert kw["encoder"]["embed_dim"] == 32 and kw["encoder"]["topk_fractions"] == (0.5,)
    _, kw = network_config(dict(TINY, topk_fractions=[0.5]))  # only with attention: topk
    assert "topk_fractions" not in kw["encoder"]
    flat = resolved_model_config(dict(TINY, embed_dim=None))  # null = the preset's value, flat keys
    assert flat["embed_dim"] == 48 and flat["drm_dim"] == 16 and "encoder" not in flat


def test_a_name_cannot_be_registered_twice():
    with pytest.raises(ValueError, match="registered twice"):
        register_network("hard")(type("Other", (RestorationNet,), {}))
    assert NETWORKS["hard"].__name__ == "SmartAssign"
