"""``python -m scripts.configuration_table``: rewrite the table of every setting in docs/configuration.md.

The table comes from ``authorization_server.settings.reference_table()``; the test
tests/authorization_server/test_configuration.py fails while the document and the code differ.
"""

from pathlib import Path

from mcp_authz.authorization_server.settings import reference_table

DOCUMENT = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
BEGIN = "<!-- settings table: begin -->\n"
END = "<!-- settings table: end -->\n"


def with_table(text: str) -> str:
    """The document ``text`` with the generated table between its two markers."""
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return head + BEGIN + reference_table() + END + tail


def main() -> None:
    DOCUMENT.write_text(with_table(DOCUMENT.read_text()))


if __name__ == "__main__":
    main()
