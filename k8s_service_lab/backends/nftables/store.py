"""``nftElementStorage``: what one set or map holds, so a sync writes only the changes.

kube-proxy ensures every Service's elements on every sync but remembers what the kernel has:
an element whose key and value are unchanged costs nothing; a changed value is deleted and
re-added (nft refuses to overwrite a map value); elements no Service claims any more are
deleted at the end. A full sync resets the store and flushes the container.

Upstream re-ensures every element on every sync; here each Service port *claims* its
elements and a rewritten or removed port *releases* its old ones, so a partial sync touches
only the changed Services — with the same transaction as a result::

    >>> from k8s_service_lab.netfilter.nftables import NftElement, NftMap, goto
    >>> store = ElementStore(NftMap("service-nodeports", "inet_proto . inet_service : verdict"))
    >>> out = []
    >>> store.reset(out)
    >>> old = NftElement("service-nodeports", ("tcp", "30080"), goto("a"))
    >>> store.claim(out, old)
    >>> [c.verb for c in out]
    ['flush', 'add']
    >>> out = []
    >>> store.release(old)
    >>> store.claim(out, NftElement("service-nodeports", ("tcp", "30080"), goto("b")))
    >>> store.cleanup(out)
    0
    >>> [c.verb for c in out]
    ['delete', 'add']
"""

from __future__ import annotations

from k8s_service_lab.netfilter.nftables import (
    Command,
    NftElement,
    NftMap,
    NftSet,
    Verdict,
    add,
    delete,
    flush,
)

__all__ = ["ElementStore"]


class ElementStore:
    """The kernel's elements of one container: key → value, and how many ports claim each."""

    __slots__ = ("container", "elements", "owners", "released")

    def __init__(self, container: NftSet | NftMap) -> None:
        self.container = container
        self.elements: dict[tuple[str, ...], Verdict | None] = {}
        self.owners: dict[tuple[str, ...], int] = {}
        self.released: set[tuple[str, ...]] = set()

    def reset(self, out: list[Command]) -> None:
        """Forget everything and flush the container (full sync)."""
        self.elements.clear()
        self.owners.clear()
        self.released.clear()
        out.append(flush(self.container))

    def claim(self, out: list[Command], element: NftElement) -> None:
        """``ensureElem``: write the element unless the kernel has it with this value."""
        key, value = element.key, element.value
        self.owners[key] = self.owners.get(key, 0) + 1
        elements = self.elements
        if key in elements:
            if elements[key] != value:
                out += (delete(element), add(element))
                elements[key] = value
        else:
            out.append(add(element))
            elements[key] = value

    def release(self, element: NftElement) -> None:
        """A port that claimed ``element`` is being rewritten or removed."""
        key = element.key
        left = self.owners.get(key, 0) - 1
        if left > 0:
            self.owners[key] = left
        else:
            self.owners.pop(key, None)
            self.released.add(key)

    def cleanup(self, out: list[Command]) -> int:
        """Delete released elements nobody claimed again; returns how many."""
        name = self.container.name
        gone = sorted(k for k in self.released if k not in self.owners and k in self.elements)
        for key in gone:
            out.append(delete(NftElement(name, key)))
            del self.elements[key]
        self.released = set()
        return len(gone)
