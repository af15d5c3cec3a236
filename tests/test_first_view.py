"""The example outputs the photo tabs open with: rendered once per process and key, shown only on a page's
first view of the tab."""
import pytest

pytest.importorskip("gradio")


def test_rendered_once_per_key():
    from demos import first_view

    calls = []
    render = lambda: calls.append(1) or ("photo", "caption")  # noqa: E731
    key = ("test", object())
    assert first_view.rendered_once(key, render) == ("photo", "caption")
    assert first_view.rendered_once(key, render) == ("photo", "caption")
    assert len(calls) == 1


def test_first_view_only_once_per_page():
    from demos.first_view import COLORIZE_EXAMPLE, STYLE_EXAMPLE, first_view

    key = ("test", "first view")
    assert first_view(False, key, lambda: ("a", "b"), 2) == ("a", "b", True)
    again = first_view(True, key, lambda: pytest.fail("rendered again"), 2)
    assert again[-1] is True and all(update == {"__type__": "update"} for update in again[:2])
    assert COLORIZE_EXAMPLE.is_file() and STYLE_EXAMPLE.is_file()
