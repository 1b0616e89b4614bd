"""Device and precision choices; device lists (one scorer per device)."""
import pytest
import torch

from ielmscan.errors import InputError
from ielmscan.inference.devices import Precision, device_names, resolve_device, resolve_devices, resolve_precision


def test_device_and_precision_choices():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_precision("fp32", torch.device("cpu")) is Precision.fp32
    assert resolve_precision("auto", torch.device("cpu")) in (Precision.fp32, Precision.bf16)
    with pytest.raises(InputError, match="tpu"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="no CUDA"):
            resolve_device("cuda:0")


@pytest.mark.parametrize("text, workers, names", [
    ("cpu", None, ["cpu"]),
    ("auto", 1, ["auto"]),
    ("cpu", 3, ["cpu", "cpu", "cpu"]),
    ("auto", 2, ["auto", "auto"]),
    ("cuda:0,cuda:1", None, ["cuda:0", "cuda:1"]),
    (" cuda:1 , cuda:0 ", 2, ["cuda:1", "cuda:0"]),
    ("cuda:3", None, ["cuda:3"]),
])
def test_device_lists_give_one_scorer_per_device(text, workers, names):
    assert device_names(text, workers) == names


@pytest.mark.parametrize("text, workers, words", [
    ("cuda:0,cuda:0", None, "twice"),
    ("cuda:0,cpu", None, "by number"),
    ("cuda,cuda:1", None, "by number"),
    ("cpu,cpu", None, "--workers"),
    ("cuda:0,", None, "empty entry"),
    ("cuda:0,cuda:1", 3, "does not match"),
    ("cuda:0", 2, "cuda:0,cuda:1"),
    ("cpu", 0, "at least 1"),
])
def test_bad_device_lists_say_what_to_write(text, workers, words):
    with pytest.raises(InputError, match=words):
        device_names(text, workers)


def test_several_devices_resolve_to_one_kind():
    assert [d.type for d in resolve_devices(["cpu", "cpu"])] == ["cpu", "cpu"]
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="no CUDA"):
            resolve_devices(["cuda:0", "cuda:1"])
