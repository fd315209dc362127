"""The text/plain part derived from an email's HTML."""

from __future__ import annotations

from worker.rendering.plaintext import forget_lines, html_to_text


def test_a_link_becomes_its_text_then_its_address_in_brackets() -> None:
    html = '<p>Visit <a href="https://shop.example/new?a=1&amp;b=2">our <b>new</b> range</a>.</p>'
    assert html_to_text(html) == "Visit our new range (https://shop.example/new?a=1&b=2).\n"


def test_a_link_whose_text_is_its_address_is_written_once() -> None:
    html = '<p><a href="https://shop.example">https://shop.example</a></p>'
    assert html_to_text(html) == "https://shop.example\n"


def test_block_elements_become_paragraphs_separated_by_one_blank_line() -> None:
    html = "<h1>Hello Ana</h1><div><p>First.</p></div><p>Second<br>line two</p>"
    assert html_to_text(html) == "Hello Ana\n\nFirst.\n\nSecond\nline two\n"


def test_table_rows_become_lines_and_their_cells_do_not_run_together() -> None:
    html = "<table><tr><td>2 x Tea</td><td>22.95 EUR</td></tr><tr><th>Total</th><th>45.90</th></tr>"
    assert html_to_text(html + "</table>") == "2 x Tea 22.95 EUR\n\nTotal 45.90\n"


def test_list_items_become_dashes() -> None:
    assert html_to_text("<ul><li>Green tea</li><li>Cups</li></ul>") == "- Green tea\n- Cups\n"


def test_head_style_and_script_are_left_out() -> None:
    html = (
        "<html><head><title>Subject</title><style>p { color: red }</style></head>"
        "<body><script>track()</script><p>Body only</p></body></html>"
    )
    assert html_to_text(html) == "Body only\n"


def test_entities_are_decoded_and_runs_of_spaces_collapsed() -> None:
    assert html_to_text("<p>Tea   &amp;\t cake &lt;3</p>") == "Tea & cake <3\n"


def test_a_link_over_two_lines_is_one_link() -> None:
    html = '<p>Hi</p>\n<p><a href="https://shop.example/new">our new\nrange</a></p>\n'
    assert html_to_text(html) == "Hi\n\nour new range (https://shop.example/new)\n"


def test_a_tag_over_two_lines_leaves_no_trace() -> None:
    assert html_to_text('<p\nclass="intro">Hi</p><td\n>Ana</td>') == "Hi\n\nAna\n"


def test_a_comment_or_style_over_several_lines_is_left_out_though_its_lines_were_seen() -> None:
    assert html_to_text("<p>Shown</p>\n<p>Hidden</p>\n") == "Shown\n\nHidden\n"
    html = "<p>Shown</p>\n<!-- old copy:\n<p>Hidden</p>\n-->\n<style>\np { }\n</style><p>End</p>"
    assert html_to_text(html) == "Shown\n\nEnd\n"


def test_reading_the_same_email_again_gives_the_same_text() -> None:
    html = '<p>Tea   &amp;\t cake</p>\n  <p> <a href="https://shop.example">Shop</a> </p>\n'
    first = html_to_text(html)
    assert first == "Tea & cake\n\nShop (https://shop.example)\n"
    assert html_to_text(html) == first


def test_a_line_holding_a_nul_character_is_read_like_any_other() -> None:
    forget_lines()
    assert html_to_text("<p>Tea\x00cake</p>\n<p>Cups</p>") == "Tea\x00cake\n\nCups\n"
