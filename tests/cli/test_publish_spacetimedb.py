"""`spacetimedb publish --spacetimedb URL`: the requests match the official CLI's for a JS module.

A recording aiohttp server on 127.0.0.1 stands in for SpacetimeDB. Each field checked is cited from
the official CLI, crates/cli/src/subcommands/publish.rs (2.8.x) unless noted.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from click.testing import CliRunner

from spacetimedb.cli import js_bundle
from spacetimedb.cli.main import cli
from spacetimedb.cli.upstream_publish import PublishError, encode_name, publish_bundle

BUNDLE = b"// a bundle\nexport default {};\n"
IDENTITY = "c200" + "ab" * 30


@dataclass
class Recorder:
    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    #: What /pre_publish answers: (status, JSON body).
    pre_publish: tuple[int, Any] = (404, {})


@pytest.fixture
def server() -> Iterator[Recorder]:
    rec = Recorder()
    loop = asyncio.new_event_loop()

    async def handle(request: web.Request) -> web.Response:
        rec.requests.append(
            {
                "method": request.method,
                "path": request.raw_path.split("?")[0],
                "query": list(request.rel_url.query.items()),
                "auth": request.headers.get("Authorization"),
                "body": await request.read(),
            }
        )
        if request.path.endswith("/pre_publish"):
            status, body = rec.pre_publish
            return web.json_response(body, status=status)
        op = "Updated" if rec.pre_publish[0] == 200 else "Created"
        return web.json_response({"Success": {"domain": "chat", "database_identity": IDENTITY, "op": op}})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    rec.url = f"http://127.0.0.1:{port}"
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.run_until_complete(runner.cleanup())
        loop.close()


def test_new_database(server: Recorder) -> None:
    out = publish_bundle(server.url, "chat", BUNDLE, token="tok")
    assert out.created and out.database_identity == IDENTITY
    pre, put = server.requests
    # call_pre_publish: POST {host}/v1/database/{domain}/pre_publish, query pretty_print_style then
    # host_type, bearer auth (add_auth_header_opt -> reqwest bearer_auth), the program as the body.
    assert pre["method"] == "POST" and pre["path"] == "/v1/database/chat/pre_publish"
    assert pre["query"] == [("pretty_print_style", "AnsiColor"), ("host_type", "Js")]
    assert pre["auth"] == "Bearer tok" and pre["body"] == BUNDLE
    # A 404 from pre_publish is a new database; then `client.put(format!("{database_host}/v1/database/{domain}"))`,
    # `builder.query(&[("host_type", host_type)])` with host_type "Js" for `--js-path`, the bytes as body.
    assert put["method"] == "PUT" and put["path"] == "/v1/database/chat"
    assert put["query"] == [("host_type", "Js")]
    assert put["auth"] == "Bearer tok" and put["body"] == BUNDLE


def test_no_color_and_anonymous(server: Recorder, monkeypatch: pytest.MonkeyPatch) -> None:
    # pretty_print_style_from_env: NO_COLOR set -> NoColor. No token: no Authorization (`--anonymous`).
    monkeypatch.setenv("NO_COLOR", "1")
    publish_bundle(server.url, "chat", BUNDLE, token=None)
    assert server.requests[0]["query"][0] == ("pretty_print_style", "NoColor")
    assert all(r["auth"] is None for r in server.requests)


def test_existing_database_auto_migration(server: Recorder) -> None:
    # apply_pre_publish_if_needed: AutoMigrate -> query token=<plan token>, policy=BreakClients,
    # before host_type (added last, just before the body).
    server.pre_publish = (200, {"AutoMigrate": {"migrate_plan": "- add table", "break_clients": False, "token": "plan-7", "major_version_upgrade": False}})
    out = publish_bundle(server.url, "chat", BUNDLE, token="tok")
    assert not out.created
    assert server.requests[1]["query"] == [("token", "plan-7"), ("policy", "BreakClients"), ("host_type", "Js")]


def test_manual_migration_needs_delete_data(server: Recorder) -> None:
    server.pre_publish = (200, {"ManualMigrate": {"reason": "column removed", "major_version_upgrade": False}})
    with pytest.raises(PublishError, match="manual migration"):
        publish_bundle(server.url, "chat", BUNDLE, token="tok")
    assert len(server.requests) == 1  # nothing uploaded
    publish_bundle(server.url, "chat", BUNDLE, token="tok", confirm=lambda _: True)
    # confirm_and_clear: builder.query(&[("clear", true)]).
    assert server.requests[-1]["query"] == [("clear", "true"), ("host_type", "Js")]


def test_delete_data_skips_pre_publish(server: Recorder) -> None:
    # ClearMode::Always: confirm_and_clear instead of apply_pre_publish_if_needed.
    publish_bundle(server.url, "my db", BUNDLE, token="tok", delete_data=True)
    (put,) = server.requests
    # The name is percent-encoded with NON_ALPHANUMERIC minus '_' and '-'.
    assert put["path"] == "/v1/database/my%20db" and put["query"] == [("clear", "true"), ("host_type", "Js")]


def test_encode_name() -> None:
    assert encode_name("a_b-c.d~e") == "a_b-c%2Ed%7Ee"


def test_cli_builds_then_uploads(server: Recorder, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: list[Path] = []

    def fake_build(module_path: Path, out: Path, **_: Any) -> js_bundle.BuildResult:
        seen.append(module_path)
        out.write_bytes(BUNDLE)
        return js_bundle.BuildResult(out, len(BUNDLE), True)

    monkeypatch.setattr(js_bundle, "build_bundle", fake_build)
    module = Path(__file__).resolve().parents[2] / "examples" / "quickstart_chat.py"
    result = CliRunner().invoke(
        cli, ["publish", "chat", "--module-path", str(module), "--spacetimedb", server.url, "--token", "tok"]
    )
    assert result.exit_code == 0, result.output
    assert seen == [module] and "Created new database chat" in result.output
    assert [r["method"] for r in server.requests] == ["POST", "PUT"]
    assert json.loads(json.dumps(server.requests[1]["query"])) == [["host_type", "Js"]]
