"""The main window's pages, one module each (placeholder pages for what comes later)."""
