"""The lossy-network scenario as a program, for a network namespace whose loopback has netem.

``ip netns exec NS python -m tests.faults.netem_scenario`` runs
:func:`tests.faults.test_lossy_udp.register_call_and_message` through a
LabServer on 127.0.0.1 inside the namespace, with no in-process impairment:
the kernel's netem on ``lo`` loses (delays, duplicates, reorders) the
datagrams. Exit status 0 when every step completed and every transaction
ended; the failure otherwise.
"""

from __future__ import annotations

from siplab.lab import Trace
from tests.faults.lab import lab, run, settle
from tests.faults.test_lossy_udp import register_call_and_message


async def scenario() -> None:
    trace = Trace()
    async with lab(("alice", "bob"), server_options={"trace": trace}, trace=trace,
                   auto_answer=True) as (server, [alice, bob]):
        await register_call_and_message(server, alice, bob, trace)
        settle(server, alice, bob)


if __name__ == "__main__":
    run(scenario(), timeout=60)
    print("netem scenario completed")
