"""Issue 16, point 19: the README's split instructions are enough for join.sh on the far side,
and join.sh and `wcbundle split` point at what exists on the target (install.sh --check)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from test_split import _join, big_bundle, coreutils_only  # noqa: F401 - autouse: join.sh on bash + coreutils only

from bundler.carry import split
from bundler.cli import main

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_split_files(tar: Path) -> list[str]:
    """The file names the README says to copy for a split bundle (besides the parts)."""
    text = " ".join(README.read_text().split())
    sentence = re.search(r"With `--split` \(FAT32\), copy (.*?)(?:\. |: )", text).group(1)
    top = tar.name.removesuffix(".tar")
    names = []
    for token in re.findall(r"`([^`]+)`", sentence):
        if token == ".asc":  # only for a signed bundle
            continue
        names.append(token.replace("<bundle>", top) if "<bundle>" in token
                     else (tar.name + token if token.startswith(".") else token))
    return names


def test_19_copying_what_the_readme_lists_is_enough_for_join_sh(tmp_path):
    tar = big_bundle(tmp_path)
    original = tar.read_bytes()
    split.split_bundle(tar, -(-len(original) // 3))
    stick = tmp_path / "stick"
    stick.mkdir()
    names = readme_split_files(tar)
    assert "join.sh" in names and f"{tar.name}.parts.sha256" in names
    for p in tmp_path.glob(f"{tar.name}.part[0-9]*"):
        shutil.copy2(p, stick / p.name)
    for name in names:
        shutil.copy2(tmp_path / name, stick / name)
    res = _join(stick)
    assert res.returncode == 0, res.stderr
    assert (stick / tar.name).read_bytes() == original


def test_19_join_sh_points_at_install_sh_check_not_at_the_builder(tmp_path):
    tar = big_bundle(tmp_path)
    split.split_bundle(tar, 20_000)
    stick = tmp_path / "stick"
    stick.mkdir()
    for p in tmp_path.iterdir():
        if p.is_file() and p.name != tar.name:
            shutil.copy2(p, stick / p.name)
    res = _join(stick)
    assert res.returncode == 0, res.stderr
    top = tar.name.removesuffix(".tar")
    assert f"Next: tar xf {tar.name} && cd {top} && ./install.sh --check" in res.stdout
    assert "wcbundle" not in res.stdout


def test_19_wcbundle_split_lists_every_file_to_copy(tmp_path, capsys):
    tar = big_bundle(tmp_path)
    assert main(["split", str(tar), "20K"]) == 0
    out, err = capsys.readouterr()
    listed = {Path(p).name for p in out.splitlines()}
    assert f"{tar.name}.sha256" in listed and "join.sh" in listed and f"{tar.name}.parts.sha256" in listed
    assert "On the target: ./join.sh" in err and "./install.sh --check" in err
    stick = tmp_path / "stick"
    stick.mkdir()
    for name in listed:
        shutil.copy2(tmp_path / name, stick / name)
    assert _join(stick).returncode == 0
