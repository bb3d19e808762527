"""The insurer console: the region's funding and clearing, read in a browser (docs/console.md)."""
