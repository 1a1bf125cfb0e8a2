"""Renders the first page of a PDF read from stdin to a PNG on stdout, in its own process.

Run by pdf.py as `python -I pdf_worker.py WIDTH MAX_HEIGHT` (by path: no kbapp or Qt import,
so it starts fast). The document is someone else's: the process gets an address-space and a
CPU-time limit, so a hostile PDF can make it fail or be killed, never hang or crash the app.
Exit 0 with the PNG; 2 no pypdfium2; 3 the document does not render (reason on stderr).
The first line of stderr is "pages N" on success.
"""

import sys

MAX_INPUT = 64 << 20
MEMORY = 1536 << 20          # bytes of address space
CPU_S = 15


def _limit() -> None:
    try:
        import resource
    except ImportError:          # not POSIX: the parent's timeout still holds
        return
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_S, CPU_S))


def main() -> int:
    width, max_h = int(sys.argv[1]), int(sys.argv[2])
    _limit()
    data = sys.stdin.buffer.read(MAX_INPUT + 1)
    if len(data) > MAX_INPUT:
        print("the document is too large to preview", file=sys.stderr)
        return 3
    try:
        import pypdfium2 as pdfium
    except ImportError:
        return 2
    try:
        pdf = pdfium.PdfDocument(data)
        if len(pdf) < 1:
            print("the document has no pages", file=sys.stderr)
            return 3
        page = pdf[0]
        w, h = page.get_size()
        if not (w > 0 and h > 0):
            print("the first page has no size", file=sys.stderr)
            return 3
        scale = min(width / w, max_h / h, 8.0)
        image = page.render(scale=scale).to_pil()
        pages = len(pdf)
    except Exception as e:  # noqa: BLE001 - pdfium's errors are many; the parent shows the reason
        print(f"the document does not render ({type(e).__name__}: {e})", file=sys.stderr)
        return 3
    print(f"pages {pages}", file=sys.stderr)
    image.save(sys.stdout.buffer, "PNG")
    return 0


if __name__ == "__main__":
    sys.exit(main())
