#!/usr/bin/env bash
# Check a classroom VM (docs/classroom.md): the lab service of docs/classroom-cloud-init.yaml runs,
# answers on 127.0.0.1 only with its token, lists exercises/ and opens terminals. As root, on the VM:
#
#     bash scripts/classroom-check.sh            after cloud-init (the service is already installed)
#     bash scripts/classroom-check.sh --install  install the unit from the user-data file first
#                                                (what cloud-init's write_files + runcmd do), then check
#
# Prints one line per check and exits 1 at the first that fails.
set -euo pipefail
cd "$(dirname "$0")/.."
unit=/etc/systemd/system/minicontainer-lab.service
port=8888

if [ "${1:-}" = --install ]; then
  # The unit exactly as the user-data writes it (its write_files entry).
  .venv/bin/python - "$unit" <<'PY'
import sys, yaml
data = yaml.safe_load(open("docs/classroom-cloud-init.yaml"))
entry = next(f for f in data["write_files"] if f["path"] == sys.argv[1])
open(sys.argv[1], "w").write(entry["content"])
PY
  # The service's WorkingDirectory is where the user-data clones the course.
  [ -e /opt/minicontainer ] || ln -s "$PWD" /opt/minicontainer
  systemctl daemon-reload
  systemctl enable --now minicontainer-lab.service
fi

fail() { echo "classroom-check: FAIL: $*"; systemctl status minicontainer-lab.service --no-pager 2>&1 | tail -n 15; exit 1; }
ok() { echo "classroom-check: ok: $*"; }

systemctl is-enabled --quiet minicontainer-lab.service || fail "the unit minicontainer-lab is not enabled"
url=$(make -s -C /opt/minicontainer lab-url WAIT=300 PORT=$port) || fail "no lab answered on port $port within 300 s"
ok "lab running: $url"
token=${url##*token=}
listening=$(ss -Hltn "sport = :$port" | awk '{print $4}' | sort -u | tr '\n' ' ')
[ "$listening" = "127.0.0.1:$port " ] || fail "the lab listens on $listening, not only 127.0.0.1:$port"
ok "listens on 127.0.0.1:$port only"
# HTTP with the venv's Python (a minimal VM has no curl): status code and body of one request
http() {
  .venv/bin/python - "$@" <<'PY'
import sys, urllib.request, urllib.error
method, url, token = sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else ""
req = urllib.request.Request(url, method=method, headers={"Authorization": f"token {token}"} if token else {})
try:
    with urllib.request.urlopen(req, timeout=30) as r:
        print(r.status, r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code, "")
PY
}
code=$(http GET "http://127.0.0.1:$port/api/contents/" | cut -d' ' -f1)
[ "$code" = 403 ] || fail "without its token the lab answered $code (expected 403)"
ok "refuses requests without the token"
names=$(http GET "http://127.0.0.1:$port/api/contents/" "$token" | cut -d' ' -f2- |
        .venv/bin/python -c 'import json,sys; print(" ".join(sorted(i["name"] for i in json.load(sys.stdin)["content"])))')
for want in exercises notebooks README.md; do
  case " $names " in *" $want "*) ;; *) fail "the file browser lacks $want: $names" ;; esac
done
ok "file browser: $names"
term=$(http POST "http://127.0.0.1:$port/api/terminals" "$token" | cut -d' ' -f2- |
       .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["name"])') || fail "cannot open a terminal"
http DELETE "http://127.0.0.1:$port/api/terminals/$term" "$token" >/dev/null
ok "terminals work"
echo "classroom-check: PASSED"
