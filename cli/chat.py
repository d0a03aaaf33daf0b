"""`aios chat`: a conversation with AIOS in the terminal, one message per line (or a recording
as the first message), continuing a session with `--session`."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from aios.client import ApiClient
from cli.common import read_audio


async def cmd_chat(api: ApiClient, args: argparse.Namespace) -> int:
    """A terminal conversation: one message per line; an empty line or Ctrl-D ends it."""
    session = args.session
    interactive = sys.stdin.isatty()
    spoken = read_audio(args.audio) if args.audio else None
    while True:
        if spoken is not None:  # `--audio FILE`: the first message is the recording's transcript
            reply = await api.chat_spoken(
                spoken, session_id=session, filename=Path(args.audio).name
            )
            spoken = None
            if not args.json:
                print(f"you (heard)> {reply['transcript']['text']}")
        else:
            if interactive:
                print("you> ", end="", flush=True)
            line = await asyncio.to_thread(sys.stdin.readline)
            if not line.strip():
                return 0
            body: dict[str, Any] = {"message": line.strip()}
            if session:
                body["session_id"] = session
            reply = await api.request("POST", "/v1/chat", json=body)
        session = reply["session_id"]
        if args.json:
            print(json.dumps(reply), flush=True)
            continue
        print(f"aios> {reply['reply']}")
        for use in reply.get("tools_used", []):
            outcome = use["status"] + (f": {use['error']}" if use.get("error") else "")
            print(f"      (used {use['tool']} {json.dumps(use['args'])} — {outcome})")
        for n, c in enumerate(reply["citations"], 1):
            print(f"      [{n}] {c.get('title') or c.get('source')} — {c.get('source')}")
        if interactive and not args.session:
            print(f"      (session {session})")
            args.session = session


def add_verbs(verb: Any) -> None:
    """Register `aios chat` with the parser's `client_verb` helper."""
    chat = verb("chat", cmd_chat, "talk with AIOS (one message per line; empty line ends)")
    chat.add_argument("--session", help="continue this session (default: a new one)")
    chat.add_argument(
        "--audio",
        metavar="FILE",
        help="send this recording (wav, mp3, m4a, webm, ogg) as the first message",
    )
