"""The HTTP benchmark itself (``benchmarks/http_load.py`` is its entry point); see that file."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BACKEND = REPO / "backend"
sys.path[:0] = [str(BACKEND), str(REPO)]

from benchmarks.http_data import database_url  # noqa: E402
from config.processes import local, web_http_command  # noqa: E402

HOST = "127.0.0.1"
PASSWORD = "SocialLab-demo-2026"
LOGINS = {
    "administrator": "admin@demo.sociallab.fr",
    "coordinator": "coordination@demo.sociallab.fr",
    "entrepreneur": "amina@demo.sociallab.fr",
    "mentor": "sophie@demo.sociallab.fr",
    "company": "mecenat@demo.sociallab.fr",
}
# Every request looks like one forwarded by the reverse proxy over HTTPS.
BASE_HEADERS = {"Host": "localhost", "X-Forwarded-Proto": "https", "X-Forwarded-For": "127.0.0.1"}

WRK_SCRIPT = r"""
-- Counts non-2xx answers (wrk's own counter accepts 3xx) and body bytes, over all threads.
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) non2xx = 0; body = 0; answers = 0 end
function response(status, headers, b)
  answers = answers + 1
  if status < 200 or status > 299 then non2xx = non2xx + 1 end
  body = body + #b
end
function done(summary, latency, requests)
  local n, b, a = 0, 0, 0
  for _, t in ipairs(threads) do n = n + t:get("non2xx"); b = b + t:get("body"); a = a + t:get("answers") end
  local e = summary.errors
  io.write(string.format(
    'WRK {"requests": %d, "duration_us": %d, "bytes": %d, "body_bytes": %d, "answers": %d, "non2xx": %d, '
    .. '"socket_errors": %d, "timeouts": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, summary.bytes, b, a, n,
    e.connect + e.read + e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


@dataclass
class Target:
    kind: str  # ceiling, api-list, api-detail, page
    role: str
    path: str

    @property
    def label(self) -> str:
        return f"{self.kind} {self.role} {self.path}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def http(method: str, url: str, *, headers: dict[str, str] | None = None, body: dict | None = None,
         timeout: float = 30) -> tuple[int, dict[str, str], bytes]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={**BASE_HEADERS, **(headers or {}),
                                              **({"Content-Type": "application/json"} if data else {})})
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers.items()), exc.read()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        return None


def prepare_data(args: argparse.Namespace) -> int:
    command = [sys.executable, str(REPO / "benchmarks" / "http_data.py"), "--db", args.db,
               "--entrepreneurs", str(args.entrepreneurs), "--mentors", str(args.mentors),
               "--companies", str(args.companies)]
    print("data:", " ".join(command[1:]), flush=True)
    started = time.perf_counter()
    output = subprocess.run(command, check=True, capture_output=True, text=True, cwd=REPO,
                            env={**os.environ, "LOG_LEVEL": "WARNING"}).stdout
    for line in output.splitlines()[:-1]:
        print("  " + line, flush=True)
    print(f"  data ready in {time.perf_counter() - started:.1f} s", flush=True)
    return json.loads(output.splitlines()[-1])["cycle_id"]


def server_environment(args: argparse.Namespace) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SOCIALLAB_", "DATABASE_"))}
    env.update({
        "SOCIALLAB_MODE": "production",
        "DJANGO_SETTINGS_MODULE": "benchmarks.http_settings",
        "PYTHONPATH": str(REPO),
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DATABASE_URL": database_url(args.db),
        "REDIS_URL": args.redis_url,
        "CHANNEL_LAYER_PREFIX": "bench-http",
        "ALLOWED_HOSTS": "localhost,127.0.0.1",
        "CSRF_TRUSTED_ORIGINS": "https://localhost",
        "WEB_CONCURRENCY": str(args.workers),
        # A one-second window: DRF's throttle keeps one timestamp per request of the window in
        # Redis, so at ~1,000 requests/s of one user the history stays near what production's
        # 600/min allows a user (600 timestamps); a one-minute window would carry 60,000.
        "THROTTLE_USER": "1000000/s",
        "THROTTLE_LOGIN": "1000/min",
        "LOG_LEVEL": "WARNING",
    })
    if args.response_cache_mb is not None:
        env["RESPONSE_CACHE_MB"] = str(args.response_cache_mb)
    return env


def collectstatic(env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"], check=True,
                   cwd=BACKEND, env=env)


def start_server(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    command = local(web_http_command(bind=HOST, port=port))
    print("server:", " ".join(command), f"(WEB_CONCURRENCY={env['WEB_CONCURRENCY']})", flush=True)
    process = subprocess.Popen(command, cwd=BACKEND, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                               start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited with {process.returncode}; see {log}")
        try:
            status, _, body = http("GET", f"http://{HOST}:{port}/readyz", timeout=5)
            if status == 200:
                return process
        except OSError:
            pass
        time.sleep(0.5)
    stop_server(process)
    raise SystemExit(f"gunicorn not ready after 60 s; see {log}")


def stop_server(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)  # its own session: the arbiter and its workers only
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def sign_in(base: str) -> tuple[dict[str, str], dict[str, str]]:
    """API token and session cookie of every demo role."""
    tokens, cookies = {}, {}
    for role, email in LOGINS.items():
        status, _, body = http("POST", f"{base}/api/auth/token/", body={"email": email, "password": PASSWORD})
        if status != 200:
            raise SystemExit(f"token for {email}: HTTP {status} {body[:200]!r}")
        tokens[role] = json.loads(body)["token"]
        status, headers, body = http("POST", f"{base}/api/auth/login/", body={"email": email, "password": PASSWORD},
                                     headers={"Referer": "https://localhost/", "Origin": "https://localhost"})
        cookie = next((part.split(";")[0] for key, part in _set_cookies(headers) if part.startswith("sessionid=")), None)
        if status != 200 or cookie is None:
            raise SystemExit(f"session for {email}: HTTP {status} {body[:200]!r}")
        cookies[role] = cookie
    return tokens, cookies


def _set_cookies(headers: dict[str, str]) -> list[tuple[str, str]]:
    # urllib folds repeated headers; split the Set-Cookie values back (cookie values hold no ", ").
    value = headers.get("Set-Cookie", "")
    return [("Set-Cookie", part.strip()) for part in value.split(", ") if "=" in part.split(";")[0]]


def first_id(base: str, token: str, path: str) -> int:
    status, _, body = http("GET", base + path, headers={"Authorization": f"Token {token}"})
    if status != 200:
        raise SystemExit(f"{path}: HTTP {status} {body[:200]!r}")
    results = json.loads(body)["results"]
    if not results:
        raise SystemExit(f"{path}: empty; the data set is missing rows")
    return results[0]["id"]


def targets(base: str, tokens: dict[str, str], cycle_id: int) -> list[Target]:
    """The targets, with the ids of the detail pages read through the API."""
    coord = tokens["coordinator"]
    return target_list(
        cycle_id,
        request_id=first_id(base, coord, "/api/requests/"),
        proposal_id=first_id(base, coord, f"/api/proposals/?cycle={cycle_id}"),
        mentor_id=first_id(base, coord, "/api/mentors/"),
        offer_id=first_id(base, tokens["company"], "/api/offers/"),
    )


def target_list(cycle_id: int, *, request_id: int, proposal_id: int, mentor_id: int, offer_id: int) -> list[Target]:
    """Every target of the benchmark (also profiled in-process by benchmarks/http_profile.py)."""
    lists = [
        ("administrator", "/api/requests/"),
        ("administrator", "/api/mentors/"),
        ("coordinator", "/api/requests/"),
        ("coordinator", f"/api/proposals/?cycle={cycle_id}"),
        ("coordinator", f"/api/cycles/{cycle_id}/unmatched/"),
        ("coordinator", "/api/entrepreneurs/"),
        ("coordinator", "/api/matches/"),
        ("coordinator", "/api/audit/"),
        ("entrepreneur", "/api/requests/"),
        ("mentor", "/api/matches/"),
        ("company", "/api/offers/"),
        ("entrepreneur", "/api/reference/skills/"),
    ]
    details = [
        ("coordinator", f"/api/requests/{request_id}/"),
        ("coordinator", f"/api/proposals/{proposal_id}/"),
        ("coordinator", f"/api/mentors/{mentor_id}/"),
        ("coordinator", f"/api/cycles/{cycle_id}/"),
        ("company", f"/api/offers/{offer_id}/"),
    ]
    pages = [
        ("anonymous", "/"),
        ("coordinator", "/coordination/cycles/"),
        ("coordinator", f"/coordination/cycles/{cycle_id}/propositions/"),
        ("coordinator", f"/coordination/cycles/{cycle_id}/sans-proposition/"),
        ("coordinator", "/coordination/tableau-de-bord/"),
        ("entrepreneur", "/porteur/demandes/"),
        ("mentor", "/parrainage/"),
        ("company", "/entreprise/offres/"),
    ]
    return ([Target("ceiling", "anonymous", "/bench/ceiling/")]
            + [Target("api-list", r, p) for r, p in lists]
            + [Target("api-detail", r, p) for r, p in details]
            + [Target("page", r, p) for r, p in pages])


def wrk(base: str, target: Target, *, auth: dict[str, str], duration: float, connections: int, threads: int,
        script: Path) -> dict:
    command = ["wrk", "--threads", str(threads), "--connections", str(connections), "--duration", f"{duration:g}s",
               "--timeout", "10s", "--script", str(script)]
    for key, value in {**BASE_HEADERS, **auth}.items():
        command += ["--header", f"{key}: {value}"]
    command.append(base + target.path)
    output = subprocess.run(command, check=True, capture_output=True, text=True, timeout=duration + 60).stdout
    line = next(line for line in output.splitlines() if line.startswith("WRK "))
    return json.loads(line[4:])


def auth_for(target: Target, tokens: dict[str, str], cookies: dict[str, str]) -> dict[str, str]:
    if target.role == "anonymous":
        return {}
    if target.kind == "page":
        return {"Cookie": cookies[target.role]}
    return {"Authorization": f"Token {tokens[target.role]}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="sociallab_bench_http")
    parser.add_argument("--entrepreneurs", type=int, default=100_000)
    parser.add_argument("--mentors", type=int, default=50_000)
    parser.add_argument("--companies", type=int, default=2_000)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/6")
    parser.add_argument("--workers", type=int, default=(os.cpu_count() or 2) + 1,
                        help="WEB_CONCURRENCY, gunicorn workers (default: one per core plus one, as docs/operations.md says)")
    parser.add_argument("--duration", type=float, default=10, help="seconds of load per target (1-60)")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--only", default="", help="comma-separated kinds: ceiling,api-list,api-detail,page")
    parser.add_argument("--match", default="", help="only the targets whose 'kind role path' contains this")
    parser.add_argument("--response-cache-mb", type=int, default=None,
                        help="RESPONSE_CACHE_MB of the server (default: the setting's, 64; 0 computes every answer)")
    args = parser.parse_args()
    if not 1 <= args.duration <= 60 or not 1 <= args.connections <= 500:
        parser.error("--duration must be 1-60 s and --connections 1-500")
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: install Debian's package with `apt-get install -y wrk` "
                         "(the benchmark drives the server with it).")

    cycle_id = prepare_data(args)
    env = server_environment(args)
    collectstatic(env)
    port = free_port()
    base = f"http://{HOST}:{port}"
    workdir = Path(tempfile.mkdtemp(prefix="bench-http-"))
    script = workdir / "count.lua"
    script.write_text(WRK_SCRIPT)
    server = start_server(env, port, workdir / "gunicorn.log")
    results = []
    try:
        tokens, cookies = sign_in(base)
        plan = targets(base, tokens, cycle_id)
        if args.only:
            plan = [t for t in plan if t.kind in args.only.split(",")]
        if args.match:
            plan = [t for t in plan if t.kind == "ceiling" or args.match in t.label]
        for target in plan:
            auth = auth_for(target, tokens, cookies)
            # One request first (it also waits until the previous target's backlog is served).
            try:
                status, _, body = http("GET", base + target.path, headers=auth, timeout=60)
            except OSError as exc:
                status, body = 0, repr(exc).encode()
            if status != 200:
                print(f"  ! {target.label}: HTTP {status} before the run: {body[:200]!r}", flush=True)
            wrk(base, target, auth=auth, duration=1, connections=min(10, args.connections), threads=1, script=script)
            load = os.getloadavg()[0]
            raw = wrk(base, target, auth=auth, duration=args.duration, connections=args.connections,
                      threads=args.threads, script=script)
            seconds = raw["duration_us"] / 1e6
            # Was this target answered from the kept answers (config/response_cache.py)?
            try:
                cache_state = http("GET", base + target.path, headers=auth, timeout=60)[1].get("X-Response-Cache", "-")
            except OSError:
                cache_state = "?"
            # wrk only counts answers received before the end: requests still in flight when it stops
            # (a view slower than the whole run) are in no counter. None completed = all failed.
            stalled = connections_in_flight = args.connections if raw["requests"] == 0 else 0
            row = {
                "kind": target.kind, "role": target.role, "path": target.path,
                "requests_per_s": round(raw["requests"] / seconds, 1),
                "p50_ms": round(raw["p50_us"] / 1000, 1), "p99_ms": round(raw["p99_us"] / 1000, 1),
                "max_ms": round(raw["max_us"] / 1000, 1),
                "errors": raw["non2xx"] + raw["socket_errors"] + raw["timeouts"] + stalled,
                "none_completed": connections_in_flight > 0,
                "non2xx": raw["non2xx"], "socket_errors": raw["socket_errors"], "timeouts": raw["timeouts"],
                "bytes_per_response": round(raw["bytes"] / max(raw["requests"], 1)),
                "body_bytes_per_response": round(raw["body_bytes"] / max(raw["answers"], 1)),
                "requests": raw["requests"], "seconds": round(seconds, 1), "load1_before": round(load, 2),
                "workers": args.workers, "connections": args.connections, "cache": cache_state,
            }
            results.append(row)
            print("JSON " + json.dumps(row), flush=True)
    finally:
        stop_server(server)
    print_table(results)


def print_table(results: list[dict]) -> None:
    ceiling = next((r["requests_per_s"] for r in results if r["kind"] == "ceiling"), None)
    print()
    print("| kind | role | path | req/s | × ceiling | p50 ms | p99 ms | errors | bytes/resp | cache | load |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        ratio = f"{r['requests_per_s'] / ceiling:.2f}" if ceiling else "n/a"
        if r["none_completed"]:
            print(f"| {r['kind']} | {r['role']} | `{r['path']}` | 0 | 0 | > {r['seconds']} s | > {r['seconds']} s | "
                  f"{r['errors']} (none completed) | n/a | {r['cache']} | {r['load1_before']} |")
            continue
        print(f"| {r['kind']} | {r['role']} | `{r['path']}` | {r['requests_per_s']:.0f} | {ratio} | {r['p50_ms']} | "
              f"{r['p99_ms']} | {r['errors']} | {r['bytes_per_response']} | {r['cache']} | {r['load1_before']} |")


if __name__ == "__main__":
    main()
