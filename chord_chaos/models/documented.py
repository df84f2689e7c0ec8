"""What Celery's documentation says should happen, in its words, for each checked property.

An exported issue (``chord-chaos export``) quotes the rule the run broke, so that a maintainer
reads Celery's own promise next to what happened, not chord-chaos's paraphrase of it. Under a
fault, the promise of the delivery configuration (``guarantees.py``) says which of these still
hold; the quotes are the same.
"""

from __future__ import annotations

from dataclasses import dataclass

from chord_chaos.models.guarantees import CITE, DOCS
from chord_chaos.models.vocabulary import CheckName

CANVAS = f"{DOCS}/userguide/canvas.html"


@dataclass(frozen=True)
class Quote:
    text: str  # Celery's words
    source: str  # the page they are on
    about: str = ""  # the canvas part it speaks of (chord, group, chain, error, callback, delivery)


_CHORD_BODY = Quote("the callback can only be executed after all of the tasks in the header have "
                    "returned. [...] The callback is then applied with the return value of each "
                    "task in the header.", f"{CANVAS}#chords", "chord")
_GROUP_ORDER = Quote("join: Gather the results for all of the subtasks and return a list with them "
                     "ordered by the order of which they were called.", f"{CANVAS}#groups", "group")
_CHAIN = Quote("The linked task will be applied with the result of its parent task as the first "
               "argument", f"{CANVAS}#chains", "chain")
_ERRORS = Quote("Errors will propagate to the callback, so the callback will not be executed "
                "instead the callback changes to failure state, and the error is set to the "
                "ChordError exception", f"{CANVAS}#error-handling", "error")

QUOTES: dict[CheckName, tuple[Quote, ...]] = {
    CheckName.OUTCOME: (_GROUP_ORDER, _CHORD_BODY, _CHAIN, _ERRORS),
    CheckName.INPUTS: (_CHORD_BODY, _GROUP_ORDER, _CHAIN),
    CheckName.RESULTS: (_CHAIN,),
    CheckName.ORDER: (_CHORD_BODY, _CHAIN),
    CheckName.EXECUTIONS: (
        _ERRORS,
        Quote("the default behavior is to acknowledge the message in advance, just before it's "
              "executed, so that a task invocation that already started is never executed again",
              f"{DOCS}/userguide/tasks.html", "delivery"),
        Quote("The callback will only be applied if the task exited successfully, and it will be "
              "applied with the return value of the parent task as argument.",
              f"{CANVAS}#callbacks", "callback"),
    ),
    CheckName.LIVENESS: (
        _CHORD_BODY,
        Quote("The acks_late setting would be used when you need the task to be executed again if "
              "the worker (for some reason) crashes mid-execution", CITE["acks_faq"], "delivery"),
    ),
    CheckName.UNFINISHED: (Quote("the worker will finish all currently executing tasks before it "
                                 "actually terminates", CITE["shutdown"]),),
    CheckName.REDELIVERY: (Quote(
        "When manual acknowledgements are used, any delivery (message) that was not acked is "
        "automatically requeued when the channel (or connection) on which the delivery happened "
        "is closed. This includes TCP connection loss by clients, consumer application (process) "
        "failures", CITE["amqp_requeue"], "delivery"),),
    CheckName.WORKER_EXIT: (Quote("the worker will finish all currently executing tasks before it "
                                  "actually terminates", CITE["shutdown"]),),
}


def quotes_for(checks: list[CheckName], parts: set[str]) -> list[Quote]:
    """The quotes for these checks about the canvas ``parts`` in play (a quote about no part in
    particular always counts), each once, in the order the checks came."""
    seen: dict[Quote, None] = {}
    for name in checks:
        for q in QUOTES.get(name, ()):
            if not q.about or q.about in parts:
                seen.setdefault(q, None)
    return list(seen)
