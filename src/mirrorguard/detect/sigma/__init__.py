"""Sigma rules, compiled and evaluated over EventFrames in vectorised batches.

* :mod:`.pipeline` — declarative YAML field mappings (``pipelines/*.yaml``): logsource →
  events, Sigma field → columns;
* :mod:`.loader` / :mod:`.compiler` — pySigma parsing and validation, then compilation to
  :mod:`.ir` trees; failures are reported with file, line and reason;
* :mod:`.engine` / :mod:`.evaluate` — rules indexed by logsource, literals found in one
  Aho-Corasick pass per column, trees evaluated on sparse row sets;
* :mod:`.correlation` — event_count / value_count / temporal / temporal_ordered;
* :mod:`.alerts` / :mod:`.detector` — alerts with explanations; the detector contract.

Rules are SigmaHQ's (Detection Rule License 1.1): keep their ``author``/``references`` when
redistributing them.
"""

from mirrorguard.detect.sigma.compiler import CompiledCorrelation, CompiledRule
from mirrorguard.detect.sigma.detector import SigmaDetector, SigmaResult, SigmaRunner
from mirrorguard.detect.sigma.engine import SigmaEngine
from mirrorguard.detect.sigma.errors import SigmaRuleError
from mirrorguard.detect.sigma.loader import RuleFailure, RuleSet, load_rules
from mirrorguard.detect.sigma.pipeline import Pipeline, PipelineSet, default_pipelines

__all__ = [
    "CompiledCorrelation",
    "CompiledRule",
    "Pipeline",
    "PipelineSet",
    "RuleFailure",
    "RuleSet",
    "SigmaDetector",
    "SigmaEngine",
    "SigmaResult",
    "SigmaRuleError",
    "SigmaRunner",
    "default_pipelines",
    "load_rules",
]
