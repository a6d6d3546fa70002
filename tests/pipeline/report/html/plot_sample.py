"""One small run for the chart tests: three builds, one recommended, one missing the 5 ms SLA."""

from __future__ import annotations

from ...sample_results import record, summary


def sample():
    return summary(
        [
            record("fp32", ipj=210, loss=0.0, p99=4.0, tput=2100, precision="fp32", estimated=False),
            record("int8", ipj=430, loss=0.003, p99=2.3, tput=4210),
            record("int8-dynamic", ipj=54.5, loss=0.006, p99=7.5, tput=1200),
        ],
        sla=5.0,
    )
