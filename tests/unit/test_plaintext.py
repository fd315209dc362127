"""The text/plain part derived from an email's HTML."""

from __future__ import annotations

from worker.plaintext import html_to_text


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
