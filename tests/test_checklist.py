"""Release checklists in the description block: which items people ticked, kept on a rewrite (pure)."""

from bot.checklist import checklists, ticked_items
from bot.markers import BEGIN, END, LEAD, checklist_marker

ITEMS = "**Before releasing CMOC**\n- [ ] Queue normal\n- [ ] Final status documented"


def block(body: str) -> str:
    return f"Person's text\n- [x] Queue normal\n\n{LEAD}{BEGIN}\n\n{body}\n\n{LEAD}{END}\n- [x] Final status documented\n"


def test_only_ticks_inside_the_block_under_a_role_marker_count():
    body = checklists({"cmoc": ITEMS, "smoc": ITEMS.replace("CMOC", "SMOC")}, set())
    assert ticked_items(block(body)) == set()  # ticks outside the block are the person's own lists
    ticked = block(body).replace("- [ ] Queue normal", "- [x] Queue normal", 1)
    assert ticked_items(ticked) == {("cmoc", "Queue normal")}  # the first list is the CMOC's
    assert ticked_items("no block - [x] Queue normal") == set()


def test_a_rewrite_ticks_again_what_was_ticked_for_that_role_only():
    out = checklists({"cmoc": ITEMS, "smoc": ITEMS}, {("smoc", "Final status documented"), ("cmoc", "Gone")})
    cmoc, smoc = out.split(checklist_marker("smoc"))
    assert "- [ ] Final status documented" in cmoc and "- [x] Final status documented" in smoc
    assert out.startswith(checklist_marker("cmoc")) and out.count("[x]") == 1

