"""Architecture encodings of the papers: parsing, validation, formatting, random sampling."""
