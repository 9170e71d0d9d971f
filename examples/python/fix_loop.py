#!/usr/bin/env python3
"""A scripted stand-in for an LLM coding agent, driving a bosun sandbox call by call.

    python3 examples/python/fix_loop.py URL [TOKEN]

URL is bosun's GraphQL endpoint (http://127.0.0.1:8080/graphql) or just its origin; TOKEN is
BOSUN_API_TOKEN, when bosun has one. Python 3.8+, standard library only: this is what any
language needs to drive bosun (JSON over HTTP, one multipart upload, two plain GETs).

What it does, as an agent would:
  1. starts an external run that keeps /workspace/out as an artifact, and polls until it runs
     (printing its place in line while it waits);
  2. uploads a tiny repository (a tar.gz built in memory) whose shell test fails, and runs it;
  3. reads the failure and the source, writes a fix, and runs the test again until it passes;
  4. writes the fix as a unified diff to /workspace/out/fix.patch (busybox `diff -u`: the
     sandbox has no git), and finishes the run;
  5. downloads the kept artifact, checks its SHA-256, and prints its local path as the LAST line.

Exits 0 once the artifact is downloaded, 1 on any failure (the run is cancelled if it was left
running, as the TypeScript client's disposal does).
"""

import hashlib
import io
import json
import re
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

REPO_DIR = "/workspace/repo"
OUT_DIR = "/workspace/out"
PATCH_DIR = "/tmp/fix"
POLL_SECONDS = 0.5

# The repository under repair: `add` subtracts, and the test says so.
REPOSITORY = {
    "calc.sh": (
        "#!/bin/sh\n"
        "# Arithmetic helpers, sourced by the scripts that need them.\n"
        "\n"
        "# add A B: prints A + B\n"
        "add() {\n"
        "  echo $(($1 - $2))\n"
        "}\n"
    ),
    "test.sh": (
        "#!/bin/sh\n"
        ". ./calc.sh\n"
        "got=$(add 2 3)\n"
        'if [ "$got" = 5 ]; then\n'
        '  echo "PASS add 2 3 = 5"\n'
        "else\n"
        '  echo "FAIL add 2 3: expected 5, got $got"\n'
        "  exit 1\n"
        "fi\n"
    ),
}


class BosunError(Exception):
    """A refusal from bosun: its message and `extensions.code`."""

    def __init__(self, message, code=None):
        super().__init__(f"{code}: {message}" if code else message)
        self.code = code


class Bosun:
    """Just enough of bosun's API: GraphQL over HTTP, one multipart upload, GETs."""

    def __init__(self, url, token=None):
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https"):
            raise SystemExit(f"URL must be http:// or https://, got {url!r}")
        path = parsed.path if parsed.path not in ("", "/") else "/graphql"
        self.endpoint = urllib.parse.urlunsplit((parsed.scheme, parsed.netloc, path, "", ""))
        self.origin = f"{parsed.scheme}://{parsed.netloc}"
        self.token = token

    def _headers(self, extra):
        headers = dict(extra)
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def _send(self, request):
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def graphql(self, query, variables):
        """POSTs an operation as JSON (no CSRF header needed) and returns its data."""
        body = json.dumps({"query": query, "variables": variables}).encode()
        request = urllib.request.Request(
            self.endpoint, data=body, method="POST", headers=self._headers({"Content-Type": "application/json"})
        )
        return self._data(*self._send(request))

    def upload(self, query, variables, file_variable, filename, content):
        """A GraphQL multipart request (operations, map, then the file), with x-graphql-csrf,
        which bosun asks of every multipart POST."""
        boundary = uuid.uuid4().hex
        operations = json.dumps({"query": query, "variables": {**variables, file_variable: None}})
        file_map = json.dumps({"0": [f"variables.{file_variable}"]})
        parts = [
            f'--{boundary}\r\nContent-Disposition: form-data; name="operations"\r\n\r\n{operations}\r\n'.encode(),
            f'--{boundary}\r\nContent-Disposition: form-data; name="map"\r\n\r\n{file_map}\r\n'.encode(),
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="0"; filename="{filename}"\r\n'
                "Content-Type: application/gzip\r\n\r\n"
            ).encode()
            + content
            + b"\r\n",
            f"--{boundary}--\r\n".encode(),
        ]
        headers = self._headers({"Content-Type": f"multipart/form-data; boundary={boundary}", "x-graphql-csrf": "1"})
        request = urllib.request.Request(self.endpoint, data=b"".join(parts), method="POST", headers=headers)
        return self._data(*self._send(request))

    def download(self, path):
        """GETs a path of the server root (an artifact's `url`) and returns its bytes."""
        status, body = self._send(urllib.request.Request(self.origin + path, headers=self._headers({})))
        if status != 200:
            self._data(status, body)
            raise BosunError(f"GET {path} answered HTTP {status}")
        return body

    @staticmethod
    def _data(status, body):
        try:
            answer = json.loads(body)
        except ValueError:
            raise BosunError(f"bosun answered HTTP {status} with something that is not JSON: {body[:200]!r}")
        errors = answer.get("errors") or []
        if errors:
            first = errors[0]
            raise BosunError(first.get("message", "unknown error"), (first.get("extensions") or {}).get("code"))
        if answer.get("data") is None:
            raise BosunError(f"bosun answered HTTP {status} without data")
        return answer["data"]


RUN_FIELDS = "id status position failureReason error exitCode"


class Sandbox:
    """One external run, driven command by command."""

    def __init__(self, bosun, agent_id):
        self.bosun = bosun
        self.id = agent_id
        self.ended = False

    def exec(self, command, cwd=None, timeout_ms=None):
        options = {key: value for key, value in (("cwd", cwd), ("timeoutMs", timeout_ms)) if value is not None}
        data = self.bosun.graphql(
            "mutation ($id: ID!, $command: String!, $options: ExecOptionsInput) {"
            " exec(agentId: $id, command: $command, options: $options) { exitCode stdout stderr timedOut step { index } } }",
            {"id": self.id, "command": command, "options": options or None},
        )
        return data["exec"]

    def write_files(self, files):
        data = self.bosun.graphql(
            "mutation ($id: ID!, $files: [FileInput!]!) { writeFiles(agentId: $id, files: $files) { path size } }",
            {"id": self.id, "files": files},
        )
        return data["writeFiles"]

    def read_file(self, path):
        data = self.bosun.graphql(
            "query ($id: ID!, $path: String!) { readFile(agentId: $id, path: $path) { content truncated } }",
            {"id": self.id, "path": path},
        )
        return data["readFile"]["content"]

    def upload_archive(self, archive, path):
        data = self.bosun.upload(
            "mutation ($id: ID!, $archive: File!, $path: String) {"
            " uploadArchive(agentId: $id, archive: $archive, path: $path) { path type } }",
            {"id": self.id, "path": path},
            "archive",
            "repo.tar.gz",
            archive,
        )
        return data["uploadArchive"]

    def finish(self, exit_code, error=None):
        data = self.bosun.graphql(
            "mutation ($id: ID!, $code: Int!, $error: String) { finishAgent(agentId: $id, exitCode: $code, error: $error) {"
            f" {RUN_FIELDS} artifacts {{ path size sha256 url }} }} }}",
            {"id": self.id, "code": exit_code, "error": error},
        )
        self.ended = True
        return data["finishAgent"]

    def cancel(self):
        if self.ended:
            return
        self.ended = True
        try:
            self.bosun.graphql("mutation ($id: ID!) { cancelAgent(id: $id) { status } }", {"id": self.id})
        except BosunError:
            pass  # Already over.


def say(message):
    print(message, flush=True)


def start_sandbox(bosun):
    """startAgent, then poll agentRun until the run leaves the line."""
    data = bosun.graphql(
        "mutation ($input: StartAgentInput!) { startAgent(input: $input) { agentId status queue { position } } }",
        {
            "input": {
                "group": {"id": "fix-loop-example", "name": "fix_loop.py example"},
                "config": {"agent": "external", "artifacts": [OUT_DIR], "idleTimeoutMs": 120000},
            }
        },
    )
    started = data["startAgent"]
    sandbox = Sandbox(bosun, started["agentId"])
    say(f"started run {sandbox.id} ({started['status']})")
    position = None
    try:
        while True:
            run = bosun.graphql(f"query ($id: ID!) {{ agentRun(id: $id) {{ {RUN_FIELDS} }} }}", {"id": sandbox.id})["agentRun"]
            if run["status"] == "RUNNING":
                return sandbox
            if run["status"] != "QUEUED":
                sandbox.ended = True
                raise BosunError(f"run {sandbox.id} ended {run['status']} before it started: {run['failureReason']} {run['error']}")
            if run["position"] != position:
                position = run["position"]
                say(f"waiting in line at position {position}")
            time.sleep(POLL_SECONDS)
    except BaseException:
        sandbox.cancel()
        raise


def repository_archive():
    """The repository as a tar.gz, built in memory."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, text in REPOSITORY.items():
            content = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mode = 0o755
            info.mtime = int(time.time())
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def propose_fix(source, failure):
    """The "model": from the failure and the source, a corrected source (or None).

    A real agent would send both to an LLM; this one knows one trick: when a function named in a
    failure like "FAIL add 2 3: expected 5, got -1" subtracts, make it add.
    """
    match = re.search(r"FAIL (\w+) (-?\d+) (-?\d+): expected (-?\d+), got (-?\d+)", failure)
    if not match:
        return None
    function, a, b, expected, _got = match.groups()
    if function != "add" or int(a) + int(b) != int(expected):
        return None
    fixed = re.sub(r"\$\(\(\$1 - \$2\)\)", "$(($1 + $2))", source)
    return fixed if fixed != source else None


def fix_loop(sandbox):
    """Run the test, read the failure, fix, and run again until it passes; returns the patch path."""
    entries = sandbox.upload_archive(repository_archive(), REPO_DIR)
    say("uploaded " + ", ".join(entry["path"] for entry in entries))
    original = sandbox.read_file(f"{REPO_DIR}/calc.sh")
    for attempt in range(1, 4):
        result = sandbox.exec("sh test.sh", cwd=REPO_DIR, timeout_ms=30000)
        say(f"attempt {attempt}: sh test.sh exited {result['exitCode']}: {result['stdout'].strip()}")
        if result["exitCode"] == 0:
            break
        source = sandbox.read_file(f"{REPO_DIR}/calc.sh")
        fixed = propose_fix(source, result["stdout"] + result["stderr"])
        if fixed is None:
            raise BosunError("no fix found for: " + (result["stdout"] + result["stderr"]).strip())
        sandbox.write_files([{"path": f"{REPO_DIR}/calc.sh", "content": fixed, "mode": 0o755}])
        say("wrote a fix to calc.sh")
    else:
        raise BosunError("the test still fails after 3 attempts")

    fixed = sandbox.read_file(f"{REPO_DIR}/calc.sh")
    sandbox.write_files(
        [
            {"path": f"{PATCH_DIR}/a/calc.sh", "content": original},
            {"path": f"{PATCH_DIR}/b/calc.sh", "content": fixed},
        ]
    )
    # busybox diff exits 1 when the files differ, which is what is expected here.
    diff = sandbox.exec(
        f"mkdir -p {OUT_DIR} && cd {PATCH_DIR} && diff -u a/calc.sh b/calc.sh > {OUT_DIR}/fix.patch; [ $? -eq 1 ]"
    )
    if diff["exitCode"] != 0:
        raise BosunError(f"diff failed: {diff['stderr'].strip()}")
    return f"{OUT_DIR}/fix.patch"


def main(argv):
    if len(argv) not in (2, 3) or argv[1] in ("-h", "--help"):
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    bosun = Bosun(argv[1], argv[2] if len(argv) == 3 else None)
    sandbox = None
    try:
        sandbox = start_sandbox(bosun)
        say(f"run {sandbox.id} is RUNNING")
        patch_path = fix_loop(sandbox)
        run = sandbox.finish(0)
        say(f"finished: {run['status']}")
        artifact = next((item for item in run["artifacts"] if item["path"] == patch_path), None)
        if artifact is None:
            raise BosunError(f"the run kept no {patch_path}")
        content = bosun.download(artifact["url"])
        if len(content) != artifact["size"] or hashlib.sha256(content).hexdigest() != artifact["sha256"]:
            raise BosunError(f"{artifact['path']} downloaded with the wrong size or SHA-256")
        local = Path(tempfile.mkdtemp(prefix="bosun-fix-loop-")) / "fix.patch"
        local.write_bytes(content)
        say(str(local))
        return 0
    except (BosunError, OSError) as error:
        print(f"fix_loop: {error}", file=sys.stderr)
        return 1
    finally:
        if sandbox is not None:
            sandbox.cancel()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
