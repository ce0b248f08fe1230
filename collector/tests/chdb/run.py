"""Runs SQL statements in chDB (the in-process ClickHouse engine of the PyPI package chdb-core,
imported as `chdb`), for the tests that check the collector's SQL on current ClickHouse.

Reads one JSON object on stdin: {"config": optional path of a ClickHouse config file (e.g. one
naming a cluster in remote_servers), "statements": [SQL, ...]}. Runs the statements in order in
one fresh session with its data in a temporary directory, and prints a JSON list with, for each
statement, {"ok": its answer as TSV} or {"error": the engine's message}; it goes on after an
error so the caller sees every statement's fate. Exit 2 if chDB cannot be imported.
"""
import json
import shutil
import sys
import tempfile

try:
    import chdb
    from chdb import session
except ImportError as e:  # the caller's test fails with this message
    print(f"chDB is not installed ({e}): run scripts/setup.sh (pip package chdb-core)", file=sys.stderr)
    sys.exit(2)


def main():
    job = json.load(sys.stdin)
    path = tempfile.mkdtemp(prefix="rumprops-chdb-")
    target = path + (f"?config-file={job['config']}" if job.get("config") else "")
    out = []
    s = session.Session(target)
    try:
        for sql in job["statements"]:
            try:
                answer = s.query(sql, "TSV")
                out.append({"ok": answer.bytes().decode() if hasattr(answer, "bytes") else str(answer)})
            except Exception as e:  # an engine error names the statement's fault
                out.append({"error": str(e)})
    finally:
        s.close()
        shutil.rmtree(path, ignore_errors=True)
    json.dump({"version": chdb.__version__, "results": out}, sys.stdout)


main()
