"""Code that the co-attention and LXMERT files keep as their own copies, checked to stay equal.

Both files read top to bottom (their embeddings, final norms, pooler and head, and pooling are
written out in each, as in transformers' model files); instead of a shared base class, this test
keeps the copies identical, as transformers' "Copied from" checks do. A change to one copy fails
here until the other gets it too.
"""

from pathlib import Path

import pytest

import mmalign.implicit

ROOT = Path(mmalign.implicit.__file__).parent

# (what, start marker, end marker in coattention.py, in lxmert.py; None: the end of the file)
FORWARD = "    def forward(\n        self,\n        inputs"
SEGMENTS = [
    (
        "embedding modules in __init__",
        "        # embeddings\n",
        "        # per-stream TRMs",
        "        # single-modality encoders",
    ),
    ("final norms, pooler, head and embed()", "        # pre-LN stacks end", FORWARD, FORWARD),
    ("pooling and output", "        # 3. pooling and head\n", None, None),
]


def _segment(name: str, start: str, end: str | None) -> str:
    text = (ROOT / name).read_text()
    assert text.count(start) == 1, f"{start!r} should occur once in {name}"
    body = text[text.index(start) :]
    if end is None:
        return body
    assert end in body, f"{end!r} not found after {start!r} in {name}"
    return body[: body.index(end)]


@pytest.mark.parametrize("what,start,end_co,end_lx", SEGMENTS, ids=[s[0] for s in SEGMENTS])
def test_coattention_and_lxmert_copies_are_equal(what, start, end_co, end_lx):
    co = _segment("coattention.py", start, end_co)
    lx = _segment("lxmert.py", start, end_lx)
    assert len(co.splitlines()) >= 5
    assert co == lx, f"the {what} of coattention.py and lxmert.py differ: change both copies"
