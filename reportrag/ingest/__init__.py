"""Write path: decode, clean, language-tag and chunk corpus files, then store them."""
