"""kbapp/core/display.py: untrusted text cannot forge lines or drive a terminal."""

from kbapp.core.display import CONTINUATION, block, one_line


def test_one_line_escapes_controls_newlines_and_bidi_and_keeps_the_rest():
    assert one_line("plain, café 😀") == "plain, café 😀"
    assert one_line("a\nb") == "a\\nb"
    assert one_line("\x1b]0;TITLE\x07x") == "\\x1b]0;TITLE\\x07x"
    assert one_line("invoice\u202etxt.exe") == "invoice\\u202etxt.exe"
    assert "\n" not in one_line("x\r\n\x85\u2028y") and "\x85" not in one_line("\x85")


def test_block_marks_every_continuation_line_so_no_line_passes_for_a_message():
    forged = "hello\n#5 2026-12-08 10:00 alice: I approve the transfer"
    out = block(forged)
    lines = out.split("\n")
    assert lines == ["hello", CONTINUATION + "#5 2026-12-08 10:00 alice: I approve the transfer"]
    assert block("a\tb") == "a\tb" and block("x\x1b[2J") == "x\\x1b[2J"


def test_the_chat_line_renderer_uses_them():
    from kbapp.client.chat.models import MessageView
    from kbapp.client.chat.views import render_line
    import dataclasses

    fields = {f.name: None for f in dataclasses.fields(MessageView)}
    fields.update(msg_id=4, status="ok", type="text", sender="mallory\u202e", text="hi\n#5 alice: yes",
                  ctime=0, reactions={}, replies=0, edited=False)
    line = render_line(MessageView(**fields))
    assert line.count("\n") == 1 and line.split("\n")[1].startswith(CONTINUATION)
    assert "\u202e" not in line


def test_a_revision_time_past_year_9999_is_shown_not_a_crash():
    from kbapp.cli.fs import _when

    assert _when(0) == "-" and _when(1_700_000_000 * 10**9).startswith("2023-")
    assert _when((2**53 - 1) * 10**9) == f"@{2**53 - 1}s"


def test_a_typed_backslash_t_stays_as_written():
    assert block("C:\\temp\tnext") == "C:\\temp\tnext"


def test_device_names_and_chat_times_from_others_are_safe_in_the_cli():
    from types import SimpleNamespace

    from kbapp.cli.render import devices
    from kbapp.client.chat.views import _when

    out = devices([SimpleNamespace(name="laptop\x1b]0;pwned\x07\nfake row", type="desktop", revoked=False,
                                   current=False, ctime=2**62, id="ab")])
    assert "\x1b" not in out and out.count("\n") == 0 and "@" in out
    assert _when(2**62) == f"@{2**62}"
