"""Declared sample conditions and the one label check every family uses."""
from __future__ import annotations

import pytest
import torch

from zoo.capabilities import LABEL, Condition, check_conditions, check_label, requested_labels
from zoo.errors import UsageError


def test_unknown_condition_names_the_valid_ones():
    with pytest.raises(UsageError, match="unknown condition 'lable'.*valid: label"):
        check_conditions((LABEL,), {"lable": 3})


@pytest.mark.parametrize("bad", ["7", True, 2.5])
def test_condition_types_are_checked_before_the_family_sees_them(bad):
    with pytest.raises(UsageError, match="must be int"):
        check_conditions((LABEL,), {"label": bad})


def test_choices_and_int_to_float():
    steps = Condition("sampler", str, "euler", choices=("euler", "heun"))
    scale = Condition("guidance", float, 1.0)
    assert check_conditions((steps, scale), {"sampler": "heun", "guidance": 2}) == {"sampler": "heun", "guidance": 2.0}
    with pytest.raises(UsageError, match="choose from euler, heun"):
        check_conditions((steps,), {"sampler": "ddim"})


@pytest.mark.parametrize("label", [10, -1])
def test_label_out_of_range_names_the_range(label):
    with pytest.raises(UsageError, match=r"label must be an integer in 0\.\.9"):
        check_label(label, 10)


def test_label_on_an_unconditional_model():
    with pytest.raises(UsageError, match="unconditional"):
        check_label(0, 0)
    assert check_label(None, 0) is None


def test_requested_labels_cycle_through_classes_or_repeat_one():
    assert requested_labels(5, None, 3, torch.device("cpu")).tolist() == [0, 1, 2, 0, 1]
    assert requested_labels(3, 2, 3, torch.device("cpu")).tolist() == [2, 2, 2]
    assert requested_labels(3, None, 0, torch.device("cpu")) is None


def test_classifier_free_guidance_pieces():
    from zoo.capabilities import check_guidance, drop_labels, guided

    labels = torch.arange(10).repeat(100)
    dropped = drop_labels(labels, 0.3, 10, torch.Generator().manual_seed(0))
    none = dropped == 10
    assert 0.25 < none.float().mean() < 0.35 and torch.equal(dropped[~none], labels[~none])
    assert torch.equal(drop_labels(labels, 0.0, 10), labels)
    cond, uncond = torch.tensor([1.0, 2.0]), torch.tensor([3.0, 2.0])
    assert torch.equal(guided(cond, uncond, 0.0), cond) and torch.equal(guided(cond, uncond, 1.0), torch.tensor([-1.0, 2.0]))
    check_guidance(None, 0)
    with pytest.raises(UsageError, match="class-conditional"):
        check_guidance(1.0, 0)
