# Shared setup for the sr-synth shell tests: a temporary directory, the
# test endpoint, prompt records built by the real pipeline, and checks.
# Sourced, not run.
set -u
PY=/usr/bin/python3
SR_SHARED=${SR_SHARED:-$SR_SRCDIR/../shared}
tmp=$(mktemp -d /tmp/synth-test.XXXXXX)
server_pid=

cleanup()
{
	stop_server
	rm -rf "$tmp"
}
trap cleanup EXIT
[ -n "${KEEP:-}" ] && trap stop_server EXIT

fail()
{
	echo "FAIL: $*" >&2
	exit 1
}

# start_server [sr-testserver options...]: sets $endpoint and $server_log.
start_server()
{
	stop_server
	server_log=$tmp/server-$$.log
	rm -f "$tmp/port" "$server_log"
	sr-testserver --port-file "$tmp/port" --log "$server_log" "$@" >/dev/null &
	server_pid=$!
	i=0
	while [ ! -s "$tmp/port" ]; do
		i=$((i + 1))
		[ $i -lt 500 ] || fail "sr-testserver did not start"
		sleep 0.01
	done
	endpoint="http://127.0.0.1:$(cat "$tmp/port")/v1"
}

stop_server()
{
	if [ -n "$server_pid" ]; then
		kill "$server_pid" 2>/dev/null
		wait "$server_pid" 2>/dev/null
		server_pid=
	fi
}

# Requests the server has logged so far (optionally only lines matching $1).
server_requests()
{
	if [ -f "$server_log" ]; then
		grep -c -- "${1:-\"seq\"}" "$server_log"
	else
		echo 0
	fi
}

need_data()
{
	for f in "$@"; do
		if [ ! -f "$SR_SHARED/data/$f" ]; then
			echo "SKIP: $SR_SHARED/data/$f not found" >&2
			exit 77
		fi
	done
}

# Prompt records from AdvBench (harmful) and XSTest (safe -> benign,
# unsafe -> harmful), through the real sr-import and sr-guide.
advbench_prompts()
{
	sr-import -l harmful "$SR_SHARED/data/advbench/harmful_behaviors.csv" | sr-guide
}

xstest_prompts()
{
	sr-import --label-map safe=benign,unsafe=harmful "$SR_SHARED/data/xstest/xstest_prompts.csv" |
		sr-guide
}

# Drop teacher.latency_ms and teacher.endpoint, which differ between live
# runs against servers on different ports, and print the records
# compactly, so that two runs can be compared with cmp.
comparable()
{
	$PY -c '
import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    r = json.loads(line)
    r.get("teacher", {}).pop("latency_ms", None)
    r.get("teacher", {}).pop("endpoint", None)
    print(json.dumps(r, ensure_ascii=False, separators=(",", ":")))
' "$1"
}

# check_samples PROMPTS OUTPUT N: OUTPUT has every (id, sample < N) of
# PROMPTS exactly once, in input order, unless listed in an optional
# FAILED file ($4), and nothing else.
check_samples()
{
	$PY - "$@" <<'PYEOF' || fail "sample check failed for $2"
import json, sys
prompts, output, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
failed = set()
if len(sys.argv) > 4:
    for line in open(sys.argv[4], encoding="utf-8"):
        r = json.loads(line)
        failed.add((r["id"], r["sample"]))
expect = []
for line in open(prompts, encoding="utf-8"):
    pid = json.loads(line)["id"]
    expect += [(pid, s) for s in range(n) if (pid, s) not in failed]
got = []
for line in open(output, encoding="utf-8"):
    r = json.loads(line)
    for key in ("sample", "teacher", "completion", "reasoning", "answer"):
        if key not in r:
            sys.exit("record %s lacks %s" % (r.get("id"), key))
    got.append((r["id"], r["sample"]))
if len(set(got)) != len(got):
    sys.exit("duplicate samples in %s" % output)
if got != expect:
    missing = [x for x in expect if x not in set(got)]
    sys.exit("%s: %d samples, expected %d; missing %s" % (output, len(got), len(expect), missing[:5]))
PYEOF
}

# stat_value FILE KEY: one number from a --stats file.
stat_value()
{
	$PY -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"
}
