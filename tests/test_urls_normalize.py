"""normalize_url: the dedup key. Equivalent spellings collapse; different resources do not."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crawler.errors import InvalidInput
from crawler.urls import normalize_url, validate_url

SAME = [
    ("HTTP://Example.COM/", "http://example.com/"),
    ("https://example.com:443/a", "https://example.com/a"),
    ("http://example.com:80/a", "http://example.com/a"),
    ("https://example.com", "https://example.com/"),
    ("https://example.com./a", "https://example.com/a"),
    ("https://example.com/a#section", "https://example.com/a"),
    ("https://example.com/a?b=2&a=1", "https://example.com/a?a=1&b=2"),
    ("https://example.com/a?utm_source=x&utm_Medium=y&id=3", "https://example.com/a?id=3"),
    ("https://example.com/a?fbclid=1&gclid=2&msclkid=3&id=3", "https://example.com/a?id=3"),
    (
        "https://example.com/a?hsa_acc=1&pk_campaign=2&mtm_source=3&id=3",
        "https://example.com/a?id=3",
    ),
    ("https://example.com/a?utm_source=x", "https://example.com/a"),
    ("https://example.com/a/./b/../c", "https://example.com/a/c"),
    ("https://example.com/a/b/..", "https://example.com/a/"),
    ("https://example.com/../a", "https://example.com/a"),
    ("https://example.com/%7Euser", "https://example.com/~user"),
    ("https://example.com/%7euser", "https://example.com/~user"),
    ("https://example.com/a%2fb", "https://example.com/a%2Fb"),
    ("https://example.com/caf%c3%a9", "https://example.com/caf%C3%A9"),
    ("https://example.com/café", "https://example.com/caf%C3%A9"),
    ("https://BÜCHER.de/", "https://xn--bcher-kva.de/"),
    ("https://example.com/100%", "https://example.com/100%25"),
    ("https://example.com/a?q=a b", "https://example.com/a?q=a+b"),
    ("https://example.com/a?q=a%20b", "https://example.com/a?q=a+b"),
    ("  https://example.com/a  ", "https://example.com/a"),
]

DIFFERENT = [
    ("https://example.com/a", "http://example.com/a"),
    ("https://example.com/a", "https://example.com/a/"),
    ("https://example.com/a", "https://www.example.com/a"),
    ("https://example.com:8443/a", "https://example.com/a"),
    ("https://example.com/a?id=1", "https://example.com/a?id=2"),
    ("https://example.com/a%2Fb", "https://example.com/a/b"),
    ("https://example.com/Path", "https://example.com/path"),
    ("https://example.com/#!/inbox", "https://example.com/#!/sent"),
    ("https://user@example.com/", "https://example.com/"),
]


@pytest.mark.parametrize(("raw", "key"), SAME)
def test_equivalent_spellings_share_one_key(raw: str, key: str) -> None:
    # Given a URL spelled one of many equivalent ways
    # When it is normalised
    # Then it becomes the one canonical key
    assert normalize_url(raw) == key


@pytest.mark.parametrize(("a", "b"), DIFFERENT)
def test_different_resources_keep_different_keys(a: str, b: str) -> None:
    # Given two URLs that name different things
    # When both are normalised
    # Then their keys differ
    assert normalize_url(a) != normalize_url(b)


def test_ipv6_host_keeps_its_brackets_and_port() -> None:
    # Given an IPv6 literal with a non-default port
    # When normalised
    # Then the brackets and port survive
    assert normalize_url("http://[::1]:8080/x") == "http://[::1]:8080/x"
    assert normalize_url("http://[::1]:80/x") == "http://[::1]/x"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "   ",
        "ftp://example.com/file",
        "javascript:alert(1)",
        "https://",
        "https://exa mple.com/",
        "https://example.com:0/",
        "https://example.com:99999/",
        "http://" + "a" * 9000 + ".com/",
        "https://[::1/",
    ],
)
def test_invalid_urls_are_refused_with_a_reason(bad: str) -> None:
    # Given something that is not an archivable URL
    # When it is validated
    # Then InvalidInput says what is wrong (no crash, no silent pass)
    with pytest.raises(InvalidInput) as info:
        validate_url(bad)
    assert info.value.message


@given(
    st.sampled_from(["http", "HTTPS", "https"]),
    st.sampled_from(["example.com", "EXAMPLE.org", "a.b.c"]),
    st.text(alphabet="abc/._~%-é ", max_size=20),
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "utm_x", "fbclid"]), st.text("xyz", max_size=3)),
        max_size=4,
    ),
)
def test_normalising_twice_changes_nothing(
    scheme: str, host: str, path: str, params: list[tuple[str, str]]
) -> None:
    # Given any URL built from awkward pieces
    query = "&".join(f"{k}={v}" for k, v in params)
    url = f"{scheme}://{host}/{path.replace(' ', '')}" + (f"?{query}" if query else "")
    # When its key is normalised again
    key = normalize_url(url)
    # Then the key is a fixed point
    assert normalize_url(key) == key
