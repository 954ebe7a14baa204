from __future__ import annotations

import pytest
from tests.detect.flowdata import attack_flows, benign_flows

from mirrorguard.detect.registry import detector_class, detector_names, rebuild
from mirrorguard.detect.streaming import StreamingHistogram
from mirrorguard.errors import MirrorguardError


def test_every_registered_class_carries_its_name() -> None:
    for name in detector_names():
        assert detector_class(name).name == name


def test_rebuild_round_trip_and_unknown_names() -> None:
    det = StreamingHistogram().fit(benign_flows())
    meta, arrays = det.get_state()
    again = rebuild("streaming_hbos", det.get_params(), meta, arrays)
    assert (again.score(attack_flows(5)) == det.score(attack_flows(5))).all()
    with pytest.raises(MirrorguardError):
        detector_class("os.system")
