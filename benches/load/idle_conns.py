#!/usr/bin/env python3
"""Opens COUNT keep-alive connections to HOST:PORT, sends one `GET PATH` on each and reads the
whole response, then holds every connection open, idle, for HOLD seconds (or until SIGTERM).

    idle_conns.py HOST PORT COUNT HOLD [PATH]

Prints `ready OK FAILED` on stdout once every connection has had its answer (or failed), so the
caller can measure the server while they sit idle. Bounded: opening all connections gives up
after 120 s, holding ends after HOLD seconds.
"""

import asyncio
import resource
import signal
import sys


async def one(host, port, request, sem):
    async with sem:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        await reader.readexactly(length)
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(head.split(b"\r\n")[0].decode())
        return writer


async def main():
    host, port, count, hold = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    path = sys.argv[5] if len(sys.argv) > 5 else "/1k"
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    sem = asyncio.Semaphore(256)  # connections being opened at once
    tasks = [asyncio.ensure_future(one(host, port, request, sem)) for _ in range(count)]
    done, pending = await asyncio.wait(tasks, timeout=120)
    for task in pending:
        task.cancel()
    writers = [t.result() for t in done if not t.cancelled() and t.exception() is None]
    errors = [t.exception() for t in done if not t.cancelled() and t.exception() is not None]
    print(f"ready {len(writers)} {count - len(writers)}", flush=True)
    if errors:
        print(f"first error: {errors[0]!r}", file=sys.stderr, flush=True)
    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.cancel)
    try:
        await asyncio.wait_for(stop, hold)
    except (asyncio.TimeoutError, asyncio.CancelledError):
        pass
    for writer in writers:
        writer.close()


asyncio.run(main())
