"""Shape coverage: which shape features a canvas contains, by nesting pattern and node role.

A campaign counts these over the canvases it drew and lists the ones it never drew. Features
are read off the canvas as written (the JSON), not off what Celery builds from it: a chain whose
only member is a group is a ``chain-body`` when it is a chord's body, not a ``group-body``.
Where a feature says *header* or *body*, it is ``faults.node_role`` of the node's id: the
nearest enclosing chord section, at any depth (``$.chord.header[0].chain[1]`` is in a header,
``$.chord.body.chord.header[0]`` too), and a callback is where its task is. *Direct* means the
node is that member itself, not something nested inside it.
"""

from __future__ import annotations

from chord_chaos.models.canvas import Canvas, Chain, Chord, Group, Task, Workload, walk
from chord_chaos.models.faults import node_role
from chord_chaos.models.timeouts import SLOW_SECONDS

SHAPE_FEATURES: dict[str, str] = {
    # structure
    "chain": "a chain",
    "group": "a group",
    "chord": "a chord",
    "empty-header": "a chord with an empty header",
    "empty-group": "a group without members",
    "nested-group": "a group that is a direct member of a group",
    "chord-in-header": "a chord inside another chord's header",
    "chord-in-body": "a chord inside another chord's body (its body, or inside it)",
    "chord-body": "a chord whose body is a chord",
    "group-body": "a chord whose body is a group",
    "chain-body": "a chord whose body is a chain",
    "group-body-in-header": "a chord whose body is a group, inside another chord's header",
    "chain-in-header": "a chain that is a direct member of a chord's header",
    "group-in-header": "a group that is a direct member of a chord's header",
    "chord-in-chain": "a chord that is a direct member of a chain",
    "chord-in-group": "a chord that is a direct member of a group",
    "group-led-chain": "a chain whose first member is a group (Celery folds it with group.__or__)",
    "group-ended-chain": "a chain whose last member is a group",
    # signatures
    "immutable": "an immutable (.si) task other than sleep and retry (whose drawn form always is)",
    "partial-args": "the workload is applied with args or kwargs (apply_async's, prepended and merged)",
    # ops, by node role
    "fail-in-header": "a fail task in a chord's header",
    "fail-in-body": "a fail task in a chord's body",
    "fail-elsewhere": "a fail task in no chord's header or body",
    "retry-in-header": "a retry task in a chord's header",
    "retry-in-body": "a retry task in a chord's body",
    "retry-elsewhere": "a retry task in no chord's header or body",
    "slow-in-header": "a slow sleep (seconds >= SLOW_SECONDS in its own args) in a chord's header",
    "slow-in-body": "a slow sleep in a chord's body",
    "slow-elsewhere": "a slow sleep in no chord's header or body",
    # callbacks
    "link": "a task or chord with a link (callback)",
    "errback-on-task": "a task with a link_error (errback)",
    "errback-on-chord": "a chord with a link_error (errback, attached to its body)",
}

def _needs(*alternatives: str) -> tuple[frozenset[str], ...]:
    return tuple(frozenset(a.split()) for a in alternatives)


SWARM_NEEDS: dict[str, tuple[frozenset[str], ...]] = {
    "chain": _needs("chain"),
    "group": _needs("group", "chord group-body"),
    "chord": _needs("chord"),
    "empty-header": _needs("chord empty-header"),
    "empty-group": _needs("group"),
    "nested-group": _needs("group"),
    "chord-in-header": _needs("chord chord-in-header"),
    "chord-in-body": _needs("chord chord-in-body"),
    "chord-body": _needs("chord chord-in-body"),
    "group-body": _needs("chord group-body"),
    "chain-body": _needs("chord chain"),
    "group-body-in-header": _needs("chord group-body chord-in-header"),
    "chain-in-header": _needs("chord chain"),
    "group-in-header": _needs("chord group"),
    "chord-in-chain": _needs("chord chain"),
    "chord-in-group": _needs("chord group", "chord group-body chord-in-body"),
    "group-led-chain": _needs("chain group"),
    "group-ended-chain": _needs("chain group"),
    "immutable": _needs("immutable"),
    "partial-args": _needs("partial-args"),
    "fail-in-header": _needs("fail chord"),
    "fail-in-body": _needs("fail chord"),
    "fail-elsewhere": _needs("fail"),
    "retry-in-header": _needs("retry chord"),
    "retry-in-body": _needs("retry chord"),
    "retry-elsewhere": _needs("retry"),
    "slow-in-header": _needs("slow chord"),
    "slow-in-body": _needs("slow chord"),
    "slow-elsewhere": _needs("slow"),
    "link": _needs("link"),
    "errback-on-task": _needs("errback"),
    "errback-on-chord": _needs("errback chord"),
}
"""Per shape feature, the sets of ``models.swarm.FEATURES`` of which a swarm needs one on to
draw it (a group is drawn as a chord's body with ``group-body`` even when ``group`` is off). A
swarm feature is shown by every shape feature that needs it in each set: ``fail`` by
``fail-in-header``, ``fail-in-body`` and ``fail-elsewhere``; ``group-body`` by ``group-body``
and ``group-body-in-header``. (Names only here: ``check`` does not import the strategies.)"""


def shown_by(swarm_feature: str) -> tuple[str, ...]:
    """The shape features that show a swarm feature was used: those that need it whichever
    way they are drawn."""
    return tuple(s for s, alternatives in SWARM_NEEDS.items()
                 if all(swarm_feature in a for a in alternatives))


_PLACE = {"header": "in-header", "body": "in-body", "other": "elsewhere"}


def is_slow(task: Task) -> bool:
    """A ``sleep`` whose own args or kwargs give at least ``SLOW_SECONDS`` seconds (a mutable
    sleep given its seconds by its parent is not known to be slow)."""
    if task.op != "sleep":
        return False
    seconds = task.args[0] if task.args else task.kwargs.get("seconds")
    return isinstance(seconds, int | float) and not isinstance(seconds, bool) and seconds >= SLOW_SECONDS


def _task_features(task: Task, place: str) -> set[str]:
    found: set[str] = set()
    if task.immutable and task.op not in ("sleep", "retry"):
        found.add("immutable")
    if task.op in ("fail", "retry"):
        found.add(f"{task.op}-{place}")
    if is_slow(task):
        found.add(f"slow-{place}")
    if task.link is not None:
        found.add("link")
    if task.link_error is not None:
        found.add("errback-on-task")
    return found


def _chain_features(chain: Chain) -> set[str]:
    found = {"chain"}
    if chain.items and isinstance(chain.items[0], Group):
        found.add("group-led-chain")
    if chain.items and isinstance(chain.items[-1], Group):
        found.add("group-ended-chain")
    if any(isinstance(i, Chord) for i in chain.items):
        found.add("chord-in-chain")
    return found


def _group_features(group: Group) -> set[str]:
    found = {"group"}
    if not group.items:
        found.add("empty-group")
    if any(isinstance(i, Group) for i in group.items):
        found.add("nested-group")
    if any(isinstance(i, Chord) for i in group.items):
        found.add("chord-in-group")
    return found


def _chord_features(chord: Chord, role: str) -> set[str]:
    found = {"chord"}
    if not chord.header:
        found.add("empty-header")
    if role in ("header", "body"):
        found.add(f"chord-in-{role}")
    body = chord.body
    kind = {Chain: "chain-body", Group: "group-body", Chord: "chord-body"}.get(type(body))
    if kind is not None:
        found.add(kind)
    if isinstance(body, Group) and role == "header":
        found.add("group-body-in-header")
    if any(isinstance(h, Chain) for h in chord.header):
        found.add("chain-in-header")
    if any(isinstance(h, Group) for h in chord.header):
        found.add("group-in-header")
    if chord.link is not None:
        found.add("link")
    if chord.link_error is not None:
        found.add("errback-on-chord")
    return found


def shape_features(item: Workload | Canvas) -> frozenset[str]:
    """The names of ``SHAPE_FEATURES`` that the canvas (or workload) contains."""
    workload = item if isinstance(item, Workload) else Workload(item)
    found: set[str] = set()
    if workload.args or workload.kwargs:
        found.add("partial-args")
    for path, node in walk(workload.canvas):
        role = node_role(path)
        if isinstance(node, Task):
            found |= _task_features(node, _PLACE[role])
        elif isinstance(node, Chain):
            found |= _chain_features(node)
        elif isinstance(node, Group):
            found |= _group_features(node)
        else:
            found |= _chord_features(node, role)
    return frozenset(found)
