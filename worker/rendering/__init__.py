"""The one sandbox, the variant chain, styles, the text part and per-language formatting."""
