"""Extract every UI string and keep ``locale/en/<feature>.po`` in step (``make i18n``).

Msgids are Simplified Chinese. A string belongs to the catalog of the feature whose source or
templates first use it (``core`` for shared pages)."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po, write_po

from canyu import PROJECT_ROOT
from canyu.core.db import FEATURE_APPS

SRC = PROJECT_ROOT / "src" / "canyu"
TEMPLATES = PROJECT_ROOT / "templates"
LOCALE = PROJECT_ROOT / "locale"
TARGET_LOCALES = ("en",)
FEATURES = (*FEATURE_APPS, "api")

KEYWORDS = {
    "_": None,
    "gettext": None,
    "N_": None,
    "ngettext": (1, 2),
    "DomainError": (2,),
    "Conflict": (2,),
    "NotFound": (1,),
    "Forbidden": (1,),
    "Unauthorized": (1,),
    "RateLimited": (1,),
    "Unavailable": (1,),
    "flash": (2,),
    "staff_link": (2,),
    "public_link": (2,),
}
CJK = re.compile(r"[\u3400-\u9fff]")


def domain_of(path: Path) -> str:
    rel = path.relative_to(PROJECT_ROOT).parts
    if rel[0] == "src" and len(rel) > 3 and rel[2] in FEATURES:
        return "core" if rel[2] == "api" else rel[2]
    if rel[0] == "templates" and len(rel) > 2 and rel[1] in FEATURES:
        return rel[1]
    if rel[0] == "templates" and rel[1] == "mail":
        stem = rel[-1].split("_", 1)[0]
        return stem if stem in FEATURES else "core"
    return "core"


def _sources() -> Iterator[tuple[Path, str]]:
    for path in sorted(SRC.rglob("*.py")):
        if "migrations" in path.parts or path.name == "i18n_extract.py":
            continue
        yield path, "python"
    for path in sorted(TEMPLATES.rglob("*")):
        if path.suffix in (".html", ".txt", ".svg", ".ics") and path.is_file():
            yield path, "jinja2"


def extract() -> dict[str, dict[str, list[str]]]:
    """domain -> msgid -> places, for every translatable string in the project."""
    found: dict[str, dict[str, list[str]]] = {}
    seen: dict[str, str] = {}
    for path, method in _sources():
        options = (
            {"extensions": "jinja2.ext.i18n", "trimmed": "false"} if method == "jinja2" else {}
        )
        method_name = "jinja2.ext:babel_extract" if method == "jinja2" else "python"
        for lineno, message, _comments, _context in extract_from_file(
            method_name, str(path), keywords=KEYWORDS, options=options
        ):
            msgids = message if isinstance(message, tuple) else (message,)
            for msgid in msgids:
                if not msgid or not isinstance(msgid, str):
                    continue
                domain = seen.setdefault(msgid, domain_of(path))
                found.setdefault(domain, {}).setdefault(msgid, []).append(
                    f"{path.relative_to(PROJECT_ROOT)}:{lineno}"
                )
    return found


def load_catalog(locale: str, domain: str) -> Catalog:
    path = LOCALE / locale / f"{domain}.po"
    if path.exists():
        with path.open("rb") as f:
            return read_po(f, locale=locale)
    return Catalog(locale=locale, domain=domain)


def all_translations(locale: str) -> dict[str, str]:
    merged: dict[str, str] = {}
    for path in sorted((LOCALE / locale).glob("*.po")):
        with path.open("rb") as f:
            for message in read_po(f, locale=locale):
                if message.id and isinstance(message.id, str):
                    merged[message.id] = message.string if isinstance(message.string, str) else ""
    return merged


def update() -> list[str]:
    """Add new msgids (untranslated) to each catalog, keep existing translations, drop
    strings no longer used. Returns the msgids still untranslated."""
    found = extract()
    missing: list[str] = []
    for locale in TARGET_LOCALES:
        known = all_translations(locale)
        for domain in sorted(set(found) | {p.stem for p in (LOCALE / locale).glob("*.po")}):
            catalog = Catalog(locale=locale, domain=domain, project="canyu", fuzzy=False)
            for msgid, places in sorted(found.get(domain, {}).items()):
                translation = known.get(msgid, "")
                catalog.add(
                    msgid,
                    translation,
                    locations=[(p.rsplit(":", 1)[0], int(p.rsplit(":", 1)[1])) for p in places[:3]],
                )
                if not translation:
                    missing.append(msgid)
            path = LOCALE / locale / f"{domain}.po"
            path.parent.mkdir(parents=True, exist_ok=True)
            if not len(catalog):
                path.unlink(missing_ok=True)
                continue
            with path.open("wb") as f:
                write_po(
                    f, catalog, width=0, omit_header=True, sort_output=True, include_lineno=False
                )
    return missing


def untranslated_template_text() -> list[str]:
    """Chinese text written straight into a template instead of through ``_()``."""
    import jinja2

    env = jinja2.Environment(extensions=["jinja2.ext.i18n"], autoescape=True)
    problems = []
    for path in sorted(TEMPLATES.rglob("*.html")) + sorted(TEMPLATES.rglob("*.txt")):
        source = path.read_text(encoding="utf-8")
        for lineno, kind, value in env.lex(source):
            if kind == "data" and CJK.search(value):
                problems.append(f"{path.relative_to(PROJECT_ROOT)}:{lineno}: {value.strip()[:40]}")
    return problems


def fill(locale: str, tsv: Path) -> int:
    """Apply ``msgid<TAB>translation`` lines to the catalogs (for bulk translation work)."""
    pairs = {}
    for line in tsv.read_text(encoding="utf-8").splitlines():
        if "\t" in line:
            key, value = line.split("\t", 1)
            pairs[key] = value
    changed = 0
    for path in sorted((LOCALE / locale).glob("*.po")):
        with path.open("rb") as f:
            catalog = read_po(f, locale=locale)
        for message in catalog:
            if message.id in pairs and not message.string:
                message.string = pairs[message.id]
                changed += 1
        with path.open("wb") as f:
            write_po(f, catalog, width=0, omit_header=True, sort_output=True, include_lineno=False)
    return changed


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "fill":
        print(f"filled {fill('en', Path(sys.argv[2]))}")
    missing = update()
    for msgid in missing:
        print("untranslated:", msgid)
    print(f"{len(missing)} untranslated")
    sys.exit(0)
