"""Protocol names."""

import pytest

from tfgda import metrics
from tfgda.errors import UserError


def test_paper_protocols():
    p = metrics.parse_protocol("fid10k_test")
    assert (p.num_generated, p.split, p.num_reference, p.repeats) == (
        10_000, "test", 10_000, 3)
    p = metrics.parse_protocol("fid50k_train")
    assert (p.num_generated, p.split, p.repeats) == (50_000, "train", 1)
    assert metrics.parse_protocol("fid200_test").num_generated == 200


@pytest.mark.parametrize("name", ["fid10k", "is10k_test", "fid1_test", ""])
def test_bad_protocols(name):
    with pytest.raises(UserError, match="protocol"):
        metrics.parse_protocol(name)
