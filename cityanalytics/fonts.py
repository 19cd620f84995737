"""A CJK font for reports: found the same way on Linux, Windows and macOS.

matplotlib draws figures itself, so it needs a font file that has Chinese glyphs; the
browser that prints the PDF needs the same families named in CSS. Preferred, in order:
Noto Sans CJK / Source Han Sans (Linux, any OS where installed), Microsoft YaHei and SimHei
(Windows), PingFang and Hiragino Sans GB (macOS), WenQuanYi (older Linux).

With none installed, ``require_cjk_font`` stops with a message naming what to install:
figures would otherwise show empty boxes (tofu) where the Chinese should be.
"""

from __future__ import annotations

import glob
import os
import sys
from dataclasses import dataclass

CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
    "Hiragino Sans GB",
    "Heiti SC",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Noto Sans CJK JP",
    "Source Han Sans",
)
MONO_FAMILIES = ("Noto Sans Mono CJK SC", "Sarasa Mono SC")

# Where the fonts live when matplotlib's font cache predates their installation.
_FONT_GLOBS = (
    "/usr/share/fonts/**/*CJK*.tt[cf]",
    "/usr/share/fonts/**/*SourceHan*.[ot]t[cf]",
    "/usr/share/fonts/**/wqy*.tt[cf]",
    "/usr/local/share/fonts/**/*CJK*.[ot]t[cf]",
    os.path.expanduser("~/.local/share/fonts/**/*CJK*.[ot]t[cf]"),
    os.path.expanduser("~/.fonts/**/*CJK*.[ot]t[cf]"),
    "C:/Windows/Fonts/msyh*.tt[cf]",
    "C:/Windows/Fonts/simhei.ttf",
    "/System/Library/Fonts/PingFang.ttc",
    "/System/Library/Fonts/Hiragino Sans GB.ttc",
    "/Library/Fonts/*CJK*.[ot]t[cf]",
)


class MissingFont(RuntimeError):
    """No font with Chinese glyphs is installed."""


@dataclass(frozen=True)
class CJKFont:
    family: str
    path: str


def install_hint() -> str:
    if sys.platform.startswith("win"):
        return ("Windows ships Microsoft YaHei (微软雅黑) and SimHei; if they were removed, install "
                "Noto Sans CJK SC from https://github.com/notofonts/noto-cjk")
    if sys.platform == "darwin":
        return "macOS ships PingFang SC; or install Noto Sans CJK SC (brew install --cask font-noto-sans-cjk-sc)"
    return ("install the Noto CJK fonts: `sudo apt-get install fonts-noto-cjk` (Debian/Ubuntu), "
            "`sudo dnf install google-noto-sans-cjk-fonts` (Fedora), or run scripts/install-system-deps.sh")


def find_cjk_font() -> CJKFont | None:
    """The first installed family of CJK_FAMILIES as matplotlib sees it, or None."""
    from matplotlib import font_manager

    found = _known(font_manager)
    if found is None:  # the font cache may predate the font: register the files directly
        for pattern in _FONT_GLOBS:
            for path in glob.glob(pattern, recursive=True):
                try:
                    font_manager.fontManager.addfont(path)
                except Exception:  # an unreadable file is not our concern
                    continue
        found = _known(font_manager)
    return found


def _known(font_manager) -> CJKFont | None:
    by_name = {}
    for entry in font_manager.fontManager.ttflist:
        by_name.setdefault(entry.name, entry.fname)
    for family in CJK_FAMILIES:
        if family in by_name:
            return CJKFont(family, by_name[family])
    return None


def require_cjk_font() -> CJKFont:
    font = find_cjk_font()
    if font is None:
        raise MissingFont(
            "no font with Chinese glyphs found (looked for " + ", ".join(CJK_FAMILIES[:8]) + " ...); "
            "reports would show empty boxes instead of Chinese. " + install_hint()
        )
    return font


def css_font_stack(mono: bool = False) -> str:
    """CSS ``font-family`` value: the CJK families first, so every OS finds one it has."""
    families = (*MONO_FAMILIES, "DejaVu Sans Mono", "Menlo", "Consolas", *CJK_FAMILIES[:9]) if mono else CJK_FAMILIES[:11]
    generic = "monospace" if mono else "sans-serif"
    return ", ".join(f'"{f}"' for f in families) + f", {generic}"
