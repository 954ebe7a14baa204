"""Online log template mining: headers, masking, a Drain-style miner with JSON state, metrics."""

from mirrorguard.features.templates.formats import LOGHUB_FORMATS, parse_headers
from mirrorguard.features.templates.masking import DEFAULT_MASKS, MASKS, Masker
from mirrorguard.features.templates.metrics import grouping_accuracy, parsing_accuracy
from mirrorguard.features.templates.miner import TemplateMiner

__all__ = [
    "DEFAULT_MASKS",
    "LOGHUB_FORMATS",
    "MASKS",
    "Masker",
    "TemplateMiner",
    "grouping_accuracy",
    "parse_headers",
    "parsing_accuracy",
]
