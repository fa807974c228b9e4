"""Model packages: a model directory built into a wheel (and sdist) that ``pip install`` puts where
``tagger tag NAME``, ``tagger serve NAME`` and ``Tagger.load("NAME")`` find it.

A package named ``NAME`` (a Python module name, as spaCy's pipelines are named) holds::

    NAME/__init__.py     MODEL_DIR, the model directory below; nothing else
    NAME/meta.json       the package's name and version, the checkpoint format and the bilstm-tagger
                         version that wrote it, the model's settings, tags and training data, its dev scores
    NAME/model/          the model directory's files (config.json, vocab.json, model.pt, ...)

and declares ``NAME = NAME`` in the entry-point group :data:`ENTRY_POINT_GROUP`. :func:`locate`
finds it through that group and ``find_spec``: nothing of the package runs, as nothing of a
checkpoint runs when it is loaded.

The package does not require bilstm-tagger in its metadata: pip would then try to install or
replace the tool, from an index where that name may be another project's. Instead
:func:`locate` refuses a package whose checkpoint format this version cannot read, in one line
that names the version that wrote it.

The wheel and sdist are built by ``build`` (PyPA's build front end) over setuptools, in this
Python environment (no isolated environment: it works offline).
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bilstm_tagger.base.errors import InputError
from bilstm_tagger.model import checkpoint
from bilstm_tagger.version import __version__

ENTRY_POINT_GROUP = "bilstm_tagger.models"
META_FILE = "meta.json"
MODEL_FOLDER = "model"
# A package name: a Python module name that is also its own normalised distribution name.
_NAME = re.compile(r"[a-z][a-z0-9_]*")
# The files of a finished model that a package carries (resume.pt means training has not finished).
_PACKAGED_FILES = (
    checkpoint.CONFIG_FILE,
    checkpoint.VOCAB_FILE,
    checkpoint.WEIGHTS_FILE,
    checkpoint.PRETRAINED_FILE,
    checkpoint.LEGACY_PRETRAINED_FILE,
    checkpoint.CALIBRATION_FILE,
    checkpoint.ONNX_FILE,
    checkpoint.INT8_ONNX_FILE,
    checkpoint.METRICS_FILE,
)


@dataclass(frozen=True)
class BuiltPackage:
    """What :func:`build_package` wrote: the wheel, the sdist, and the package's metadata."""

    wheel: Path
    sdist: Path
    meta: dict


@dataclass(frozen=True)
class InstalledModel:
    """An installed model package: its name, version, metadata and model directory."""

    name: str
    version: str
    meta: dict
    directory: Path


def check_name(name: str) -> None:
    """Raises InputError unless ``name`` can name a package (and its module)."""
    if not _NAME.fullmatch(name):
        raise InputError(
            f"--name {name!r}: use lower-case letters, digits and underscores, starting with a letter (e.g. en_news_ner)"
        )


def check_version(version: str) -> str:
    """The version in its normal form (PEP 440); raises InputError for one pip would refuse."""
    from packaging.version import InvalidVersion, Version

    try:
        return str(Version(version))
    except InvalidVersion:
        raise InputError(f"--version {version!r}: not a version pip accepts (e.g. 1.0.0)") from None


def package_meta(model_dir: str | Path, name: str, version: str, description: str = "") -> dict:
    """The package's ``meta.json``: what it is, which bilstm-tagger reads it, what it was trained on and scored.

    Raises:
        InputError: not a finished model directory.
    """
    info = checkpoint.load_info(model_dir)
    return {
        "name": name,
        "version": version,
        "description": description,
        "checkpoint_format": checkpoint.FORMAT_VERSION,
        "written_by": info.package_version,
        "packaged_by": __version__,
        "tags": info.vocab["tags"],
        "tag_scheme": info.tag_scheme,
        "data_scheme": info.data_scheme,
        "corpus": info.corpus,
        "data": info.data,
        "model": info.model,
        "training": info.training,
        "scores": best_epoch(Path(model_dir)),
    }


def best_epoch(model_dir: Path) -> dict:
    """The dev scores of the epoch the model's weights come from (``metrics.jsonl``), or ``{}`` without a record."""
    path = model_dir / checkpoint.METRICS_FILE
    if not path.is_file():
        return {}
    best: dict = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line) if line.strip() else {}
        if record.get("best"):
            best = record
    return {key: best[key] for key in ("epoch", "dev", "dev_score") if key in best}


def build_package(
    model_dir: str | Path, name: str, version: str, output: str | Path = "dist", description: str = ""
) -> BuiltPackage:
    """Build ``NAME-VERSION`` (wheel and sdist) from a model directory into ``output``.

    Raises:
        InputError: a bad name or version, not a finished model directory, or no build tools.
    """
    check_name(name)
    version = check_version(version)
    model_dir = Path(model_dir)
    if (model_dir / checkpoint.RESUME_FILE).exists():
        raise InputError(
            f"training has not finished ({checkpoint.RESUME_FILE} is there): finish or --resume it first", model_dir
        )
    meta = package_meta(model_dir, name, version, description)
    for module in ("build", "setuptools"):
        if importlib.util.find_spec(module) is None:
            raise InputError(
                f"tagger package needs {module}: pip install 'bilstm-tagger[package]' (make install includes it)"
            )
    from build import BuildBackendException, ProjectBuilder
    from pyproject_hooks import quiet_subprocess_runner

    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tagger-package-") as scratch:
        source = Path(scratch) / f"{name}-{version}"
        _write_project(source, model_dir, meta)
        builder = ProjectBuilder(source, runner=quiet_subprocess_runner)
        try:
            wheel = Path(builder.build("wheel", output))
            sdist = Path(builder.build("sdist", output))
        except BuildBackendException as error:
            raise InputError(f"building the package failed: {error}") from None
    return BuiltPackage(wheel, sdist, meta)


def _write_project(source: Path, model_dir: Path, meta: dict) -> None:
    """A setuptools project whose only package is ``NAME`` with the model's files as package data."""
    name, version = meta["name"], meta["version"]
    package = source / name
    (package / MODEL_FOLDER).mkdir(parents=True)
    for file_name in _PACKAGED_FILES:
        if (model_dir / file_name).is_file():
            shutil.copy2(model_dir / file_name, package / MODEL_FOLDER / file_name)
    (package / "__init__.py").write_text(
        f'"""bilstm-tagger model package {name} {version}: tagger tag {name}, Tagger.load("{name}")."""\n\n'
        "from pathlib import Path\n\n"
        f'MODEL_DIR = Path(__file__).with_name("{MODEL_FOLDER}")\n',
        encoding="utf-8",
    )
    (package / META_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    summary = meta["description"] or f"A bilstm-tagger model ({', '.join(_entity_types(meta['tags']))})"
    (source / "README.md").write_text(_readme(meta), encoding="utf-8")
    (source / "MANIFEST.in").write_text(f"recursive-include {name} *\n", encoding="utf-8")
    (source / "pyproject.toml").write_text(
        f"""[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "{name}"
version = "{version}"
description = {json.dumps(summary)}
readme = "README.md"
requires-python = ">=3.10"

[project.entry-points."{ENTRY_POINT_GROUP}"]
{name} = "{name}"

[tool.setuptools]
packages = ["{name}", "{name}.{MODEL_FOLDER}"]
include-package-data = true

[tool.setuptools.package-data]
{name} = ["{META_FILE}"]
"{name}.{MODEL_FOLDER}" = ["*"]
""",
        encoding="utf-8",
    )


def _entity_types(tags: list[str]) -> list[str]:
    types = sorted({tag.split("-", 1)[1] for tag in tags if "-" in tag})
    return types or sorted(set(tags))


def _readme(meta: dict) -> str:
    scores = meta["scores"].get("dev", {})
    lines = [
        f"# {meta['name']} {meta['version']}",
        "",
        meta["description"] or "A model for bilstm-tagger.",
        "",
        f"    pip install {meta['name']}-{meta['version']}-py3-none-any.whl",
        f"    echo 'Some text.' | tagger tag {meta['name']}",
        "",
        f"Checkpoint format {meta['checkpoint_format']}, written by bilstm-tagger {meta['written_by']}.",
        f"Tags ({meta['data_scheme']}): {', '.join(meta['tags'])}.",
    ]
    if meta["data"]:
        lines.append("Training data: " + ", ".join(f"{key} {value}" for key, value in meta["data"].items()) + ".")
    if scores:
        shown = {key: value for key, value in scores.items() if not isinstance(value, dict)}
        lines.append(
            f"Dev scores (epoch {meta['scores'].get('epoch')}): "
            + ", ".join(f"{key} {value:.2f}" for key, value in shown.items())
            + "."
        )
    return "\n".join(lines) + "\n"


def installed_models() -> dict[str, str]:
    """The installed model packages' names → their module names."""
    from importlib.metadata import entry_points  # only when a model is named, not given as a directory

    return {entry.name: entry.value for entry in entry_points(group=ENTRY_POINT_GROUP)}


def locate(spec: str | Path) -> Path:
    """The model directory of ``spec``: itself when it is a directory, else the installed package of that name.

    Raises:
        InputError: neither a directory nor an installed package, or a package this version cannot read.
    """
    path = Path(spec)
    if path.is_dir() or not _NAME.fullmatch(str(spec)):
        return path
    found = find_installed(str(spec))
    if found is None:
        installed = ", ".join(sorted(installed_models())) or "none"
        raise InputError(
            f"no model directory or installed model package named {spec} (installed packages: {installed})"
        )
    return found.directory


def find_installed(name: str) -> InstalledModel | None:
    """The installed model package ``name``, or ``None``.

    Raises:
        InputError: its checkpoint format is not the one this version reads.
    """
    module = installed_models().get(name)
    spec = importlib.util.find_spec(module) if module else None
    if spec is None or spec.origin is None:
        return None
    root = Path(spec.origin).parent
    meta = json.loads((root / META_FILE).read_text(encoding="utf-8"))
    if meta.get("checkpoint_format") != checkpoint.FORMAT_VERSION:
        raise InputError(
            f"model package {name} {meta.get('version', '?')} holds a checkpoint of format "
            f"{meta.get('checkpoint_format')}, written by bilstm-tagger {meta.get('written_by', '?')}; this is "
            f"bilstm-tagger {__version__}, which reads format {checkpoint.FORMAT_VERSION}: "
            f"install bilstm-tagger {meta.get('written_by', '?')} to use it"
        )
    return InstalledModel(name, str(meta.get("version", "?")), meta, root / MODEL_FOLDER)
