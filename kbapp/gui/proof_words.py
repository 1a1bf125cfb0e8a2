"""A failed proof check, said in words, with the advice that fits that kind of failure.

The client reports a failure as a state ("broken", "temporary", "changed") and a
reason string built from the URL and the network error. A person needs to know
which of a few things happened: the name does not exist (DNS), nobody answered,
the site refused or broke, the text is not where it should be. The reason is
untrusted (it quotes a server): it is only ever shown as plain text.
"""

from __future__ import annotations

import re

# (pattern in the reason, title, advice); the first that matches wins
_KINDS = (
    (r"cannot resolve|name or service not known|nodename nor servname|no address|errno -[235]\b"
     r"|temporary failure in name resolution",
     "That name was not found",
     "No computer answers to that name (a DNS lookup found nothing). Check its spelling; a domain "
     "registered moments ago can take a while to appear."),
    (r"not a public address|only https|proofs use no local",
     "That address is not on the public internet",
     "Proofs are checked where anyone can check them: the name must point to a public address, over https."),
    (r"certificate|ssl|tls",
     "The site's https certificate is not valid",
     "kbapp checks proofs over https only. Fix the site's certificate (or its https set-up) and try again."),
    (r"no answer within|timed? ?out|timeout",
     "The service did not answer in time",
     "It may be slow or down. Nothing is wrong with your text: try again in a minute."),
    (r"connection refused|connecterror|connection reset|unreachable",
     "Could not connect to the service",
     "The name exists, but nothing accepted the connection. Is the site up and serving https?"),
    (r"http (429|5\d\d)",
     "The service did not answer",
     "It reported a problem on its side. Nothing is wrong with your text: wait a moment and try again."),
    (r"http 40[14]|http 410|not found",
     "The text is not there yet",
     "Post the text exactly as shown, at the place the instructions name, wait a moment, and try again."),
    (r"redirects",
     "The site sends kbapp elsewhere",
     "Proofs are read where they are named: serve the text at that address itself, without a redirect."),
)

_BY_STATE = {
    "broken": ("The text is not there yet",
               "Post the text exactly as shown, wait a moment, and try again."),
    "temporary": ("The service did not answer",
                  "Nothing is wrong with your text: try again in a minute."),
    "changed": ("The text found there is not this proof",
                "It names another signature: replace it with the text shown here."),
}


def proof_failure(state: str, reason: str) -> tuple[str, str]:
    """(title, message) for a failed check: the kind of failure, what to do, then the detail."""
    low = reason.lower()
    if state != "changed":
        for pattern, title, advice in _KINDS:
            if re.search(pattern, low):
                return title, f"{advice}\n\nDetail: {reason}"
    title, advice = _BY_STATE.get(state, ("The check failed", "Try again in a moment."))
    return title, f"{advice}\n\nDetail: {reason}" if reason else advice
