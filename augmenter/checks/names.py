"""Names libvirt does not know: elements, attributes and listed values its schema has no place for.

libvirt's parser reads the names it knows and skips the rest without a word, so a misspelt
``<adress>`` or ``slott='1'`` is accepted and silently dropped on ``virsh define``: the user
loses the setting. This rule walks the definition against the vocabulary of libvirt's schema
(:mod:`augmenter.policy.names`), each element in its place (``port`` is known on a USB
``<address>``, not on a PCI one), and reports each name at its line, with the nearest known
name when one is close. Foreign namespaces and ``<metadata>`` are the user's own and are not
looked at.

It is a warning: libvirt accepts the definition (``--strict`` makes it fail). One pass over the
elements, each looked up in a table that is read on first use.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from ..model.domain import Device
from ..placement.guest import Guest
from ..policy.names import Place, Vocabulary, nearest, vocabulary
from ..xml.document import Element
from .findings import Finding

LISTED_IN_HINT = 12  # list the names known at a place when there are at most this many
FEW_ATTRIBUTES = 64  # more on one element: read only the values the schema lists
MAX_REPORTED = 100  # names reported one by one; the rest are counted in one more finding


@dataclass(frozen=True)
class Unknown:
    """One name the schema has no place for."""

    kind: str  # "element", "attribute", "value" or "duplicate" (an element held at most once)
    el: Element  # the unknown element, or the element that carries the attribute
    name: str  # the element's or attribute's name
    place: str  # where, as a person reads it: "<disk>", "<address type='pci'>"
    known: tuple[str, ...]  # the names (or values) known there
    value: str | None = None  # for "value": the value written

    @property
    def suggestion(self) -> str | None:
        return nearest(self.value if self.value is not None else self.name, self.known)


@dataclass
class Found:
    """What a walk found: the first ``limit`` unknown names in document order, and how many
    more there are (counted, not kept: a hostile document may hold half a million)."""

    limit: int
    names: list[Unknown] = field(default_factory=list)
    more: int = 0
    more_line: int | None = None  # where the first of those not kept is

    def room(self, el: Element) -> bool:
        """Whether one more unknown name, at ``el``, is kept; if not, it is counted."""
        if len(self.names) < self.limit:
            return True
        self.more += 1
        if self.more_line is None:
            self.more_line = el.sourceline or None
        return False


def unknown_names(root: Element, vocab: Vocabulary | None = None,
                  limit: int = MAX_REPORTED) -> Found:
    """The unknown names under ``root`` (a ``<domain>``), in document order."""
    vocab = vocab if vocab is not None else vocabulary()
    out = Found(limit)
    _walk(vocab, root, tuple(vocab.roots), out)
    return out


def _walk(vocab: Vocabulary, el: Element, ids: tuple[int, ...], out: Found) -> None:
    """Check ``el``, matched by any of the schema's elements ``ids``, and what it holds. An
    unknown element is reported and not entered: libvirt drops all of it."""
    place = vocab.place(ids, el)
    if place.any_name:
        return
    attrs = place.attrs
    keys = el.keys()
    if len(keys) <= FEW_ATTRIBUTES:
        pairs: Iterable[tuple[str, str | None]] = el.items()
    else:  # lxml's items() finds each value by a walk over the list: quadratic in the count
        pairs = ((name, None) for name in keys)
    for name, value in pairs:
        if name in attrs:
            listed = attrs[name]
            if listed is None:
                continue
            if value is None:
                value = el.get(name)
            if value not in listed and out.room(el):
                out.names.append(Unknown("value", el, name, _place(el, place),
                                         tuple(sorted(listed)), value))
        elif name[0] != "{" and out.room(el):  # a namespaced attribute is not libvirt's
            out.names.append(Unknown("attribute", el, name, _place(el, place),
                                     tuple(sorted(attrs))))
    known = place.children if not place.wildcard else None
    once = place.once
    seen: set[str] = set()
    # an empty child written as the one before it, which had no unknown name, has none
    # either (half a million <controller type='sata'/>: each walked once is 1 s)
    alike: tuple[tuple[int, ...], list[tuple[str, str]]] | None = None
    for child in el:
        tag = child.tag
        if not isinstance(tag, str) or tag[0] == "{":  # comments, PIs, foreign namespaces
            continue
        found = known.get(tag) if known is not None else place.child(tag)
        if found:
            if tag in once:
                if tag in seen and out.room(child):  # libvirt reads one of them
                    out.names.append(Unknown("duplicate", child, tag, _place(el, place), ()))
                seen.add(tag)
            if len(child) or len(child.keys()) > FEW_ATTRIBUTES:
                alike = None
                _walk(vocab, child, found, out)
                continue
            key = (found, child.items())
            if key == alike:
                continue
            before = len(out.names), out.more
            _walk(vocab, child, found, out)
            alike = key if (len(out.names), out.more) == before else None
        elif out.room(child):
            out.names.append(Unknown("element", child, tag, _place(el, place),
                                     tuple(sorted(place.children))))


def _place(el: Element, place: Place) -> str:
    """An element as the message names it: its tag and the values that chose its names."""
    chosen = "".join(f" {name}='{value}'" for name, value in place.chosen)
    return f"<{el.tag!s}{chosen}>"


# ---- findings ----------------------------------------------------------------------------


def check_names(guest: Guest, written: Found | None = None) -> Iterator[Finding]:
    """A warning for each name libvirt 9.0 does not know where it is written. ``written``:
    the names found in the document as written, before libvirt's defaults filled in indexes
    and models (what the user wrote is what is judged; and half a million alike controllers
    stay alike until each gets its own index)."""
    found = written if written is not None else unknown_names(guest.dom.root)
    if not found.names:
        return
    devices = {d.el: d for d in guest.dom.devices}
    vocab = vocabulary()
    for u in found.names:
        # an unknown element is named by the device it sits in, never by itself
        whole = u.kind in ("element", "duplicate")
        around = u.el.iterancestors() if whole else (u.el, *u.el.iterancestors())
        dev = next((devices[a] for a in around if a in devices), None)
        yield _finding(u, dev, vocab)
    if found.more:  # a generated or hostile document: a line each would bury everything else
        yield Finding("unknown-names", "warning",
                      f"{found.more} more names libvirt {_version(vocab)} does not know, from "
                      "here on, are not listed one by one: it drops them all when it defines "
                      "the domain", found.more_line)


def _finding(u: Unknown, dev: Device | None, vocab: Vocabulary) -> Finding:
    version = f"libvirt {_version(vocab)}"
    suggestion = u.suggestion
    if u.kind == "element":
        code = "unknown-element"
        message = (f"{version} knows no element <{u.name}> in {u.place}: it drops it, and "
                   "all it holds, when it defines the domain")
        hint = f"did you mean <{suggestion}>?" if suggestion else _where_known(u, vocab)
    elif u.kind == "duplicate":
        code = "duplicate-element"
        message = (f"a second <{u.name}> in {u.place}: {version} reads one and drops the other "
                   "when it defines the domain")
        hint = f"keep one <{u.name}> and merge what the two say"
    elif u.kind == "attribute":
        code = "unknown-attribute"
        message = (f"{version} knows no attribute '{u.name}' on {u.place}: it drops it when "
                   "it defines the domain")
        hint = f"did you mean '{suggestion}'?" if suggestion else _known_here(u, "attributes")
    else:
        code = "unlisted-value"
        message = f"{version}'s schema lists no value '{u.value}' for '{u.name}' on {u.place}"
        hint = f"did you mean '{suggestion}'?" if suggestion else _known_here(u, "values")
    if dev is not None:
        message = f"{dev.name()}: {message}"
    return Finding(code, "warning", message, u.el.sourceline or None, None,
                   dev.name() if dev is not None else None, hint)


def _version(vocab: Vocabulary) -> str:
    return ".".join(vocab.libvirt.split(".")[:2])


def _where_known(u: Unknown, vocab: Vocabulary) -> str | None:
    parents = vocab.parents(u.name)
    if parents:
        shown = ", ".join(f"<{p}>" for p in parents[:6])
        more = ", ..." if len(parents) > 6 else ""
        return f"libvirt knows <{u.name}> in {shown}{more}"
    return _known_here(u, "elements")


def _known_here(u: Unknown, what: str) -> str | None:
    if not u.known or len(u.known) > LISTED_IN_HINT:
        return None
    listed = ", ".join(u.known)
    return f"{what} libvirt knows on {u.place}: {listed}"
