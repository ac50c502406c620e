"""Template tests: write files with the format's own library, compare every pixel."""
