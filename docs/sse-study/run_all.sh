#!/usr/bin/env bash
# Reproduces every figure in RESULTS.md (about 60 min). Needs: python3.11, wrk, redis-server/redis-cli,
# Redis at 127.0.0.1:6379 (db 9, keys/channels "ssebench:*" only; the restart test starts its own on 6390).
set -euo pipefail
cd "$(dirname "$0")"
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q -r requirements.lock
command -v wrk >/dev/null || { apt-get update && apt-get install -y wrk; }
(cd proj && SSE_MODE=eventstream ../.venv/bin/python manage.py migrate -v0 \
  && ../.venv/bin/python manage.py shell -c "
from benchproj.models import Item
Item.objects.all().delete()
Item.objects.bulk_create([Item(id=i, name=f'item{i}', value=i) for i in range(1, 1001)])")
ulimit -n 20000
mkdir -p results logs
PY=.venv/bin/python
$PY bench_a_streams.py                                               # A: idle streams, 3 servers x N=1000,5000 x 3
$PY bench_a_streams.py --path /raw-sse/ --servers uvicorn --ns 5000  # A: same stream without Django's handler
$PY bench_a_wrk.py                                                   # A: REST under ASGI vs gunicorn
$PY probe_asgi_overhead.py                                           # A: why (py-spy + signal experiment)
$PY bench_b_fanout.py                                                # B: fan-out to 500 clients, 6 modes x 3
for d in 2 15; do $PY bench_redis_restart.py raw --down $d; done      # robustness: redis-py alone
for m in b1 b2_pubsub b3; do $PY bench_redis_restart.py e2e --mode $m --down 3; done
for m in b3 b1 b2_pubsub; do $PY bench_redis_restart.py e2e --mode $m --down 15; done
$PY bench_redis_restart.py e2e --mode b2 --down 3
$PY gotchas.py                                                       # peer IP, WSGI+async SSE, threads, granian
$PY summarize.py > results/summary.md
