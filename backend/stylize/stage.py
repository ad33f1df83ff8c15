"""The style stage: the run's chosen method over each style, above every method.

It writes each artifact first (the GLB, a turntable where the method made one) and its
record (the report section) after it, so a resumed run reads finished styles back
instead of stylizing them again. No method imports it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from backend.errors import CheckpointError
from backend.files import write_gif, write_json
from backend.mesh.glb import GltfExport, read_glb, write_glb
from backend.mesh.textured import TexturedMesh
from backend.methods.base import Method, MethodContext, StyleSource
from backend.methods.hybrid.settings import StylizeSettings
from backend.methods.registry import HYBRID, build_method
from backend.pretrained.networks import Backbone
from backend.style.judge import Judge

Report = Callable[[float, str], None]


def weights_record(backbone: Backbone, judge: Judge) -> dict[str, object]:
    """report.json's and the GLB extras' ``weights``: the feature network and the judge,
    each with its weights and their source; ``vgg19`` says whether VGG19 was used."""
    features = backbone.provenance
    return {
        "features": features.to_dict(),
        "judge": judge.provenance.to_dict(),
        "vgg19": features.weights if features.network == "vgg19" else "unused",
    }


def read_record(path: Path) -> dict[str, object]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: cannot resume from this stage record ({exc})") from exc


@dataclass
class StyleStage:
    """Each style of a run through ``method`` (built on first use from the run's context
    and ``config``, None: the method's defaults), its results measured by the context's
    yardsticks."""

    context: MethodContext
    resume: bool
    export: GltfExport = dataclasses.field(default_factory=GltfExport)
    method: str = HYBRID
    config: object | None = None
    _runner: Method | None = None

    def weights_record(self) -> dict[str, object]:
        """Which networks and weights made the results (``vgg19``: for old readers)."""
        return weights_record(self.context.backbone, self.context.measures.judge)

    @property
    def settings(self) -> StylizeSettings:
        return self.context.settings

    def with_method(self, method: str, config: object | None = None) -> StyleStage:
        """The same run's stage through another method (sharing the head's yardsticks)."""
        return dataclasses.replace(self, method=method, config=config, _runner=None)

    def with_settings(self, settings: StylizeSettings) -> StyleStage:
        """The same run's hybrid stage with other stage-2 settings: the colour net learns
        from textures the hybrid method optimized."""
        context = dataclasses.replace(self.context, settings=settings)
        return dataclasses.replace(self, context=context, method=HYBRID, config=None, _runner=None)

    @property
    def runner(self) -> Method:
        """The run's method on this stage's head (built on first use)."""
        if self._runner is None:
            self._runner = build_method(self.method, self.context, self.config)
        return self._runner

    def run(
        self,
        name: str,
        style: StyleSource,
        glb: Path,
        record: Path,
        report: Report,
        evaluate: bool = True,
    ) -> tuple[TexturedMesh, dict[str, object]]:
        """The stylized mesh of one style and its report section (read back if finished)."""
        if self.resume and record.is_file() and glb.is_file():
            return read_glb(glb)[0], read_record(record)
        result = self.runner.stylize(
            name,
            style,
            lambda done, total, loss: report(done / total, f"step {done}/{total}"),
            evaluate,
        )
        extras = {
            "style": name,
            "method": self.method,
            "settings": dataclasses.asdict(self.settings),
            "weights": self.weights_record(),
        }
        write_glb(result.mesh, glb, merged(extras, result.extras), self.export)
        summary = {**result.summary(), "glb": glb.name}
        if result.turntable:
            gif = glb.with_name(f"turntable_{name}.gif")
            write_gif(gif, result.turntable)
            summary["turntable"] = gif.name
        write_json(record, summary)
        return result.mesh, summary


def merged(base: dict[str, object], extra: dict[str, object]) -> dict[str, object]:
    """``base`` with ``extra``'s keys; where both hold a dict, the two dicts merged."""
    out = dict(base)
    for key, value in extra.items():
        previous = out.get(key)
        both = isinstance(previous, dict) and isinstance(value, dict)
        out[key] = {**previous, **value} if both else value  # type: ignore[dict-item]
    return out
