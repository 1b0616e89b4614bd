"""Device and precision choices."""
import pytest
import torch

from ielmscan.errors import InputError
from ielmscan.inference.devices import Precision, resolve_device, resolve_precision


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
