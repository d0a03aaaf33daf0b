"""`aios keys` (create, list or revoke API keys) and `aios tenants erase` (everything AIOS holds
for a tenant goes): the administration of tenants and their keys. Both need an admin key."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from aios.client import ApiClient
from cli.common import print_json


async def cmd_keys(api: ApiClient, args: argparse.Namespace) -> int:
    if args.action == "create":
        if not args.tenant or not args.user:
            raise SystemExit("aios: keys create needs --tenant and --user")
        body = {"tenant": args.tenant, "user_id": args.user, "roles": args.role or ["user"]}
        if args.name:
            body["name"] = args.name
        created = await api.request("POST", "/v1/keys", json=body)
        if args.json:
            print_json(created)
        else:
            print(created["key"])
            print(
                f"(key {created['id']} for {created['user_id']} in tenant {created['tenant']}, "
                f"roles {', '.join(created['roles'])}; it is not shown again)",
                file=sys.stderr,
            )
        return 0
    if args.action == "revoke":
        if not args.key_id:
            raise SystemExit("aios: keys revoke needs the key id (key_…), see aios keys list")
        revoked = await api.request("DELETE", f"/v1/keys/{args.key_id}")
        print(f"revoked {revoked['id']}")
        return 0
    params = {"tenant": args.tenant} if args.tenant else {}
    listing = await api.request("GET", "/v1/keys", params=params)
    if args.json:
        print_json(listing)
        return 0
    print(f"{'id':<14} {'tenant':<12} {'user':<14} {'roles':<16} {'state':<8} last used")
    for key in listing["keys"]:
        state = "revoked" if key["revoked_at"] else "live"
        print(
            f"{key['id']:<14} {key['tenant']:<12} {key['user_id']:<14} "
            f"{','.join(key['roles']):<16} {state:<8} {key['last_used_at'] or '-'}"
        )
    return 0


async def cmd_tenants(api: ApiClient, args: argparse.Namespace) -> int:
    """`aios tenants erase TENANT --yes`: everything AIOS holds for the tenant goes."""
    if not args.yes:
        raise SystemExit(
            f"aios: this deletes everything of tenant {args.tenant!r} (runs and their histories, "
            "documents, memory, conversations, schedules, keys) and cannot be undone; "
            "add --yes to go ahead"
        )
    erased = await api.request("DELETE", f"/v1/tenants/{args.tenant}")
    if args.json:
        print_json(erased)
        return 0
    lines = {
        "schedules": str(erased["schedules"]),
        "workflows deleted": f"{erased['workflows_deleted']} ({erased['workflows_stopped']} open)",
        "chunks": str(erased["chunks"]),
        "memories": str(erased["memories"]),
        **{f"{table} rows": str(count) for table, count in erased["rows"].items()},
    }
    width = max(len(name) for name in lines)
    print(f"erased tenant {erased['tenant']}:")
    for name, value in lines.items():
        print(f"  {name:<{width}}  {value}")
    return 0


def add_verbs(verb: Any) -> None:
    """Register `aios keys` and `aios tenants` with the parser's `client_verb` helper."""
    keys = verb("keys", cmd_keys, "create, list or revoke API keys (needs an admin key)")
    keys.add_argument("action", choices=["create", "list", "revoke"], help="what to do")
    keys.add_argument("key_id", nargs="?", help="for revoke: the key's id (key_…)")
    keys.add_argument("--tenant", help="the key's tenant (create), or only this tenant (list)")
    keys.add_argument("--user", help="the user the key acts as (create)")
    keys.add_argument("--role", action="append", help="admin, operator or user (repeatable)")
    keys.add_argument("--name", help="a label to recognise the key by")
    tenants = verb(
        "tenants", cmd_tenants, "erase a tenant: everything AIOS holds for it (admin key)"
    )
    tenants.add_argument("action", choices=["erase"], help="what to do")
    tenants.add_argument("tenant", help="the tenant's name")
    tenants.add_argument("--yes", action="store_true", help="confirm: it cannot be undone")
