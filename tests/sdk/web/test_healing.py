"""Self-healing selectors: the remembered element is found again after the page changed."""

from __future__ import annotations

from synthral_sdk.web import fingerprint_of, parse_tree, propose_selector, select

BEFORE = """<html><body><div id="main"><div class="card"><h2 class="name">Widget</h2>
<span class="price" itemprop="price">19.99</span></div><div class="card"><h2 class="name">Gadget</h2>
<span class="price" itemprop="price">5.00</span></div></div></body></html>"""
AFTER = """<html><body><main id="content"><section class="product"><h3>Widget</h3>
<b class="cost" itemprop="price">19.99</b></section><section class="product"><h3>Gadget</h3>
<b class="cost" itemprop="price">5.00</b></section></main></body></html>"""


def test_the_element_is_found_again_and_the_new_selector_picks_only_it() -> None:
    [old] = [el for el in select(parse_tree(BEFORE), "span.price") if el.text() == "19.99"]
    remembered = fingerprint_of(old)

    proposal = propose_selector(AFTER, remembered, "span.price", "price")

    assert proposal is not None and proposal.source == "structure" and proposal.sample == "19.99"
    matched = select(parse_tree(AFTER), proposal.selector)
    assert [el.text() for el in matched] == ["19.99"]


def test_nothing_alike_means_no_proposal() -> None:
    [old] = select(parse_tree(BEFORE), "#main")
    assert propose_selector("<html><body><p>x</p></body></html>", fingerprint_of(old), "#main") is None


def test_the_light_tree_skips_scripts_and_survives_broken_html() -> None:
    root = parse_tree("<div id=a><p>one<p>two</div><script>var x = '<p>no</p>'</script><span>end")
    assert [el.text() for el in select(root, "p")] == ["one", "two"]
    assert "no" not in root.text()
