"""The `kbapp` command: a thin shell over the `App` facade.

Text by default, `--json` for scripts. Exit codes: 0 ok, 1 usage or operational
error, 3 a verification failure (the server or a peer lied: take it seriously).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import getpass
import importlib
import json
import os
import sys
from pathlib import Path

from kbapp.cli.argv import hoist_global_options, json_flag, quiet_broken_pipe
from kbapp.core import errors
from kbapp.core.display import one_line

EXIT_ERROR = 1
EXIT_VERIFY = 3


# `kbapp bench NAME` -> "module:function(args) -> exit code"; each module imports what it measures.
BENCHES = {
    "identity": "kbapp.bench.identity:run_bench",
    "identify": "kbapp.bench.identify:run_identify_bench",
    "gui": "kbapp.bench.gui:run_gui_bench",
    "photos-gui": "kbapp.bench.photos_gui:run_photos_gui_bench",
    "ml": "kbapp.bench.ml:run_ml_bench",
    "teams": "kbapp.bench.teams:run_teams_bench",
    "search": "kbapp.bench.search:run_search_bench",
    "server-load": "kbapp.bench.server_load:run_server_load_bench",
    "chat-attach": "kbapp.bench.chat_attach:run_chat_attach_bench",
    "chat": "kbapp.bench.chat:run_chat_bench",
    "chat-gui": "kbapp.bench.chat_gui:run_chat_gui_bench",
    "fs": "kbapp.bench.fs:run_fs_bench",
    "files-gui": "kbapp.bench.files_gui:run_files_gui_bench",
}


def build_parser(more=None) -> argparse.ArgumentParser:
    """The commands; `more(subparsers)` adds the launcher's own (kbapp/main.py: `server`)."""
    p = argparse.ArgumentParser(prog="kbapp", description="Verifiable identity, encrypted chat and files.")
    p.add_argument("--home", type=Path, default=None, help="profile directory (default: the platform data dir)")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    sub = p.add_subparsers(dest="cmd")
    if more is not None:
        more(sub)

    add_account_parsers(sub)

    s = sub.add_parser("id", help="verify and show a user's identity")
    s.add_argument("username")
    s.add_argument("--server", default=None, help="server URL (a new profile pins it)")

    sub.add_parser("status", help="this profile, its server and the verified checkpoint")

    s = sub.add_parser("prove", help="prove an account on another service (website, dns, github, mastodon, ...)")
    s.add_argument("service", nargs="?", help="website (https), dns, github, mastodon, or a configured service")
    s.add_argument("name", nargs="?", help="host, domain or account (mastodon: user@instance)")
    s.add_argument("--wait", type=float, default=None,
                   help="poll the service for up to N seconds instead of waiting for Enter")
    s.add_argument("--list", action="store_true", help="list this account's proofs and their state")

    s = sub.add_parser("revoke", help="revoke a statement of your chain")
    s.add_argument("what", choices=["proof"])
    s.add_argument("id", help="the proof's sig id (or a prefix of 8+ hex digits), or an assertion like alice@github")

    s = sub.add_parser("resolve", help="which user an assertion (alice@github+alice.dev@https) names, checked live")
    s.add_argument("assertion")

    for name, what in (("follow", "follow a user: sign a snapshot of their verified identity"),
                       ("unfollow", "stop following a user"),
                       ("followers", "who follows a user (each checked in the follower's chain)"),
                       ("following", "whom a user follows (from their verified chain)")):
        s = sub.add_parser(name, help=what)
        s.add_argument("username", nargs="?" if name in ("followers", "following") else None)

    s = sub.add_parser("log", help="the transparency log")
    lsub = s.add_subparsers(dest="log_cmd", required=True)
    v = lsub.add_parser("verify", help="audit the whole log from scratch")
    v.add_argument("--server", default=None, help="server URL (a new profile pins it)")
    c = lsub.add_parser("check", help="check a checkpoint note a peer sent (fork detection)")
    c.add_argument("note_file", type=Path, help="file holding the signed checkpoint note ('-' for stdin)")

    from . import team as team_cli   # `kbapp team ...`
    team_cli.add_parser(sub)
    from . import chat as chat_cli   # `kbapp chat ...`
    chat_cli.add_parser(sub)
    from . import fs as fs_cli       # `kbapp fs ...` (preview)
    fs_cli.add_parser(sub)

    add_bench_parser(sub)
    from kbapp.cli import photos as photos_cli  # `kbapp photos ...` (kbapp/cli/photos.py)
    photos_cli.add_parser(sub)
    return p


def add_account_parsers(sub) -> None:
    """`kbapp signup | login | device | paperkey`: this account and its devices."""
    s = sub.add_parser("signup", help="create an account and this device (again: finish an interrupted one)")
    s.add_argument("username")
    s.add_argument("--server", default=None, help="server URL")
    s.add_argument("--device", default=None, help="name of this device")
    s.add_argument("--throwaway", action="store_true",
                   help="allow KBAPP_KEYSTORE=memory: the keys, and so the account, die with this process")

    s = sub.add_parser("login", help="provision this device")
    s.add_argument("username")
    how = s.add_mutually_exclusive_group(required=True)
    how.add_argument("--paperkey", action="store_true",
                     help="use a paper key (read from KBAPP_PAPERKEY, stdin or a prompt)")
    how.add_argument("--phrase", action="store_true",
                     help="use the phrase `kbapp device add` shows on another device "
                          "(read from KBAPP_PHRASE, stdin or a prompt)")
    s.add_argument("--server", default=None)
    s.add_argument("--device", default=None)
    s.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the other device")
    s.add_argument("--throwaway", action="store_true",
                   help="allow KBAPP_KEYSTORE=memory: the keys, and so the device, die with this process")

    s = sub.add_parser("device", help="list, add or remove devices")
    dsub = s.add_subparsers(dest="device_cmd", required=True)
    dsub.add_parser("list", help="devices of this account")
    a = dsub.add_parser("add", help="add a device: shows a phrase to type on the new device")
    a.add_argument("--paper", action="store_true", help="add a paper key instead (same as `kbapp paperkey`)")
    a.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the new device")
    r = dsub.add_parser("remove", help="revoke a device (rotates the per-user key)")
    r.add_argument("device", help="device name or id")
    r.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    sub.add_parser("paperkey", help="make a new paper key (a backup device)")


def add_bench_parser(sub) -> None:
    """`kbapp bench NAME`: the benches live in kbapp/bench (BENCHES)."""
    s = sub.add_parser("bench", help="measure speed against a baseline taken in the same run")
    s.add_argument("what", choices=sorted(BENCHES))
    json_flag(s)
    s.add_argument("--quick", action="store_true", help="smaller sizes (for tests)")
    s.add_argument("--sizes", default=None, help="search bench: vector counts, e.g. 10k,100k,1m")
    s.add_argument("--db", default=None, help="server-load and chat benches: a PostgreSQL URL (default: SQLite)")
    s.add_argument("--size", default=None, help="fs bench: the big file's size, e.g. 1G, 64M (default 1G)")
    s.add_argument("--files", type=int, default=None, help="fs bench: how many small files (default 10000)")


def to_jsonable(obj):
    if dataclasses.is_dataclass(obj):
        return {k: to_jsonable(v) for k, v in dataclasses.asdict(obj).items()}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, bytes):
        return obj.hex()
    return obj


def emit(args, obj, text: str) -> None:
    if args.json:
        print(json.dumps(to_jsonable(obj), indent=2, sort_keys=True))
    else:
        print(text)


def read_secret(env: str, prompt: str) -> str:
    phrase = os.environ.get(env)
    if phrase:
        return phrase
    if sys.stdin.isatty():
        return getpass.getpass(prompt)
    return sys.stdin.readline().strip()


def ask_passphrase(new_file: bool) -> str | None:
    """Only on a terminal: scripts set KBAPP_PASSPHRASE instead. A new one must be
    strong enough (kbapp/client/passphrase.py): the rule is said before the prompt."""
    from kbapp.client.passphrase import MIN_LENGTH, passphrase_problem

    if not sys.stdin.isatty():
        return None
    if not new_file:
        return getpass.getpass("Keystore passphrase: ")
    print(f"No OS keyring here: this profile's keys go into a file sealed with a passphrase of at least "
          f"{MIN_LENGTH} characters that is hard to guess (a few unrelated words work well).", file=sys.stderr)
    while True:
        first = getpass.getpass("Choose a passphrase for this profile's key file: ")
        problem = passphrase_problem(first)
        if problem:
            print(problem, file=sys.stderr)
            continue
        if first == getpass.getpass("Again: "):
            return first
        print("They differ; try again.", file=sys.stderr)


async def run_command(args) -> int:
    from kbapp.client.app import App
    from . import render

    async with App(args.home, passphrase_prompt=ask_passphrase,
                   throwaway=getattr(args, "throwaway", False)) as app:
        await finish_interrupted(app, args)
        if args.cmd == "signup":
            acct = await app.signup(args.username, device_name=args.device, server_url=args.server)
            emit(args, acct, render.account(acct, created=True))
        elif args.cmd == "login" and args.paperkey:
            acct = await app.login_paperkey(args.username, read_secret("KBAPP_PAPERKEY", "Paper key: "),
                                            device_name=args.device, server_url=args.server)
            emit(args, acct, render.account(acct, created=False))
        elif args.cmd == "login":
            phrase = read_secret("KBAPP_PHRASE", "Phrase shown on your other device: ")
            if not args.json:
                print("Waiting for the other device...", file=sys.stderr, flush=True)
            acct = await app.login_phrase(args.username, phrase, device_name=args.device,
                                          server_url=args.server, timeout=args.timeout)
            emit(args, acct, render.account(acct, created=False))
        elif args.cmd == "device" and args.device_cmd == "add" and not args.paper:
            me = (await app.status()).username

            def show(phrase: str) -> None:
                if args.json:
                    print(json.dumps({"phrase": phrase}), flush=True)
                else:
                    print(render.provision_phrase(phrase, me), flush=True)

            dev = await app.add_device_by_phrase(show, timeout=args.timeout)
            emit(args, dev, f"added device {dev.name} ({dev.id})")
        elif args.cmd == "paperkey" or (args.cmd == "device" and args.device_cmd == "add"):
            again = app.interrupted_paperkey
            phrase = await app.create_paperkey()
            if again and not args.json:
                print("A paper key made earlier was interrupted before it was shown; here it is.",
                      file=sys.stderr)
            emit(args, {"paperkey": phrase, "shown_again": again}, render.paperkey(phrase))
            sys.stdout.flush()
            await app.paperkey_shown()
        elif args.cmd == "device" and args.device_cmd == "list":
            devices = await app.devices()
            emit(args, devices, render.devices(devices))
        elif args.cmd == "device" and args.device_cmd == "remove":
            if not args.yes and sys.stdin.isatty():
                answer = input(f"Revoke device {args.device!r}? It will no longer sign or decrypt anything new, "
                               "and a new per-user key is made for the other devices. [y/N] ")
                if answer.strip().lower() not in ("y", "yes"):
                    print("cancelled")
                    return EXIT_ERROR
            dev = await app.revoke_device(args.device)
            emit(args, dev, f"revoked device {dev.name} ({dev.id})")
        elif args.cmd == "id":
            if args.server or not app.connected:
                await app.connect(args.server)
            ident = await app.identify(args.username)
            emit(args, ident, render.identity(ident))
        elif args.cmd in ("prove", "revoke", "resolve", "follow", "unfollow", "followers", "following"):
            return await run_social(app, args)
        elif args.cmd == "team":
            from . import team as team_cli
            return await team_cli.run(app, args, emit)
        elif args.cmd in ("chat", "fs"):          # kbapp/cli/chat.py, kbapp/cli/fs.py
            return await importlib.import_module(f"kbapp.cli.{args.cmd}").run(app, args, emit)
        elif args.cmd == "status":
            st = await app.status()
            emit(args, st, render.status(st))
        elif args.cmd == "log" and args.log_cmd == "verify":
            if args.server or not app.connected:
                await app.connect(args.server)
            audit = await app.verify_log()
            emit(args, audit, f"log verified: {audit.leaves_checked} leaves, root {audit.root_hex[:16]}..., "
                              f"consistent with the checkpoint of size {audit.trusted_size} we trusted")
        elif args.cmd == "log" and args.log_cmd == "check":
            note = sys.stdin.read() if str(args.note_file) == "-" else args.note_file.read_text()
            cp = await app.check_peer_checkpoint(note)
            emit(args, cp, f"consistent: the peer's checkpoint agrees with our log of size {cp.size}")
    return 0


async def finish_interrupted(app, args) -> None:
    """An interrupted signup is finished (or posted again) by any command of the profile;
    an interrupted paper key is announced (`kbapp paperkey` shows it again)."""
    rec = app.pending_signup()
    if rec is not None and not (await app.status()).logged_in and args.cmd != "signup":
        acct = await app.finish_pending()
        print(f"kbapp: finished the interrupted signup of {acct.username}", file=sys.stderr)
    making_one = args.cmd == "paperkey" or (args.cmd == "device" and args.device_cmd == "add" and args.paper)
    if app.interrupted_paperkey and not making_one:
        print("kbapp: a paper key made earlier was interrupted and may never have been shown: "
              "run `kbapp paperkey` to see it", file=sys.stderr)


async def run_social(app, args) -> int:
    """Proofs, assertions and follows."""
    from . import render

    if not app.connected and args.cmd in ("resolve", "followers", "following"):
        await app.connect()
    if args.cmd == "prove" and args.list:
        proofs = await app.list_proofs(args.service)
        emit(args, proofs, render.proofs(proofs))
    elif args.cmd == "prove":
        if not args.service or not args.name:
            print("kbapp prove: give SERVICE and NAME (or --list)", file=sys.stderr)
            return EXIT_ERROR
        req = await app.start_proof(args.service, args.name)
        if args.json:
            print(json.dumps({"proof_text": req.text, "sig_id": req.sig_id, "service": req.service,
                              "name": req.name, "instructions": req.instructions}), flush=True)
        else:
            print(render.proof_request(req), flush=True)
        if args.wait is None:
            if sys.stdin.isatty():
                input("Press Enter once it is posted... ")
            else:
                sys.stdin.readline()
            result = await app.check_proof(req)
        else:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + args.wait
            while True:
                result = await app.check_proof(req)
                if result.ok or loop.time() >= deadline:
                    break
                if not args.json:
                    print(f"  not yet: {result.state}: {result.reason}", file=sys.stderr, flush=True)
                await asyncio.sleep(min(1.0, max(0.0, deadline - loop.time())))
        if not result.ok:
            raise errors.ProofCheckFailed(f"{req.name} on {req.service}: {result.state}: {result.reason}")
        proof = await app.finish_proof(req)
        emit(args, proof, f"proved {proof.assertion} (sig {proof.sig_id[:16]}...)")
    elif args.cmd == "revoke":
        proof = await app.revoke_proof(args.id)
        emit(args, proof, f"revoked proof {proof.assertion} (sig {proof.sig_id[:16]}...)")
    elif args.cmd == "resolve":
        res = await app.resolve(args.assertion)
        emit(args, res, render.resolved(res))
    elif args.cmd == "follow":
        f = await app.follow(args.username)
        emit(args, f, f"following {f.username} (link {f.seqno} of your chain)")
    elif args.cmd == "unfollow":
        f = await app.unfollow(args.username)
        emit(args, f, f"no longer following {f.username}")
    elif args.cmd == "followers":
        items = await app.followers(args.username)
        emit(args, items, render.follows(items, "followers"))
    elif args.cmd == "following":
        items = await app.following(args.username)
        emit(args, items, render.follows(items, "following"))
    return 0


def main(argv: list[str] | None = None, *, parser: argparse.ArgumentParser | None = None,
         launch: dict | None = None) -> int:
    """`--json`/`--home` anywhere on the line; a reader that goes away (`| head`) ends it quietly
    (kbapp/cli/argv.py)."""
    argv = hoist_global_options(sys.argv[1:] if argv is None else list(argv))
    try:
        code = _main(argv, parser=parser, launch=launch)
        sys.stdout.flush()   # a closed pipe shows up here, not in the interpreter's last flush
        return code
    except BrokenPipeError:
        return quiet_broken_pipe()


def _main(argv: list[str], *, parser: argparse.ArgumentParser | None = None,
          launch: dict | None = None) -> int:
    """Run one command. `launch` maps the commands the launcher (kbapp/main.py) runs itself,
    the GUI (None) and `server`, to their functions: the CLI imports neither."""
    parser = parser or build_parser()
    args = parser.parse_args(argv)
    try:
        if launch and args.cmd in launch:
            return launch[args.cmd](args)
        if args.cmd is None:
            parser.print_help(sys.stderr)
            return EXIT_ERROR
        if args.cmd == "photos":
            from kbapp.cli import photos as photos_cli
            return photos_cli.run(args)
        if args.cmd == "bench":
            module, func = BENCHES[args.what].split(":")
            return getattr(importlib.import_module(module), func)(args)  # heavy imports only for the one run
        return asyncio.run(run_command(args))
    except errors.VerificationError as e:
        print(f"kbapp: VERIFICATION FAILED ({e.code}): {one_line(e)}", file=sys.stderr)
        if args.json:
            print(json.dumps({"error": {"code": e.code, "message": str(e), "verification": True}}))
        return EXIT_VERIFY
    except errors.KbappError as e:
        print(f"kbapp: {one_line(e)} ({e.code})", file=sys.stderr)    # names in it may be anyone's
        if args.json:
            print(json.dumps({"error": {"code": e.code, "message": str(e), "verification": False}}))
        return EXIT_ERROR
    except BrokenPipeError:
        raise                       # a reader that went away: main() ends quietly (141)
    except OSError as e:            # the local disk or a local path (full, gone, no permission): said plainly
        where = f" ({e.filename})" if getattr(e, "filename", None) else ""
        print(f"kbapp: {one_line(e.strerror or e)}{one_line(where)} (LOCAL_IO)", file=sys.stderr)
        if args.json:
            print(json.dumps({"error": {"code": "LOCAL_IO", "message": f"{e.strerror or e}{where}",
                                        "verification": False}}))
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except Exception as e:          # the profile's own database failing under us: full disk, I/O error
        why = _storage_failure(e)
        if why is None:
            raise
        msg = (f"the profile's database could not be used ({one_line(why)}): is the disk full "
               "or failing? Nothing was lost; free space and run it again")
        print(f"kbapp: {msg} (LOCAL_STORAGE)", file=sys.stderr)
        if args.json:
            print(json.dumps({"error": {"code": "LOCAL_STORAGE", "message": msg, "verification": False}}))
        return EXIT_ERROR


def _storage_failure(e: BaseException) -> str | None:
    """The SQLite error under `e` (SQLAlchemy wraps it) when the local disk is the cause."""
    import sqlite3

    orig = getattr(e, "orig", e)
    if isinstance(orig, sqlite3.OperationalError):
        text = str(orig)
        if any(w in text for w in ("disk I/O error", "database or disk is full", "unable to open database",
                                   "attempt to write a readonly database")):
            return text
    return None


if __name__ == "__main__":
    raise SystemExit(main())
