"""The wire protocol between host and agents: the one package both sides import.

It owns everything the two ends must agree on, so that they cannot drift: topics and ids
(:mod:`.topics`), the messages (:mod:`.messages`) and the measurements results carry
(:mod:`.measurements`), the monitor-mode summary (:mod:`.monitor`), their JSON codec (:mod:`.codec`), artifact kinds
and manifests (:mod:`.artifacts`), the evaluation-data layout (:mod:`.eval_data`), the worker's job
spec (:mod:`.worker_spec`) and the tensor type table (:mod:`.dtypes`). It must stay importable on
Python 3.8 with the standard library alone (numpy is imported inside the eval-data functions).
"""

from agent.protocol.artifacts import (
    ARTIFACT_KINDS,
    MANIFEST_MEDIA_TYPE,
    ArtifactManifest,
    ArtifactRef,
    ManifestMember,
)
from agent.protocol.codec import decode, encode, from_dict, to_dict
from agent.protocol.measurements import (
    AccuracyReport,
    LatencyStats,
    LayerTime,
    Measurement,
    MemoryUse,
    PowerReport,
    ThroughputAtSLA,
    Validity,
)
from agent.protocol.messages import (
    FINAL_JOB_STATES,
    JOB_STATES,
    AgentStatus,
    BenchmarkJob,
    BenchmarkResult,
    JobState,
    Refusal,
    ResultAck,
    ResultBatch,
)
from agent.protocol.monitor import MonitorSummary, check_monitor_summary
from agent.protocol.topics import (
    BATCH_WILDCARD,
    JOBSTATE_WILDCARD,
    MAX_PAYLOAD_BYTES,
    MONITOR_WILDCARD,
    PROTOCOL_VERSION,
    REFUSAL_WILDCARD,
    RESULT_WILDCARD,
    STATUS_WILDCARD,
    TOPIC_ROOT,
    ack_topic,
    batch_topic,
    check_device_id,
    check_id,
    device_id_from_topic,
    device_topic,
    job_topic,
    jobstate_topic,
    local_device_id,
    monitor_topic,
    parse_broker_url,
    refusal_topic,
    result_topic,
    status_topic,
)
from agent.protocol.worker_spec import WorkerSpec

__all__ = [
    "ARTIFACT_KINDS",
    "BATCH_WILDCARD",
    "ResultBatch",
    "batch_topic",
    "FINAL_JOB_STATES",
    "JOBSTATE_WILDCARD",
    "JOB_STATES",
    "REFUSAL_WILDCARD",
    "JobState",
    "Refusal",
    "jobstate_topic",
    "refusal_topic",
    "MANIFEST_MEDIA_TYPE",
    "MAX_PAYLOAD_BYTES",
    "MONITOR_WILDCARD",
    "MonitorSummary",
    "check_monitor_summary",
    "monitor_topic",
    "PROTOCOL_VERSION",
    "RESULT_WILDCARD",
    "STATUS_WILDCARD",
    "TOPIC_ROOT",
    "AccuracyReport",
    "AgentStatus",
    "ArtifactManifest",
    "ArtifactRef",
    "BenchmarkJob",
    "BenchmarkResult",
    "LatencyStats",
    "LayerTime",
    "ManifestMember",
    "Measurement",
    "MemoryUse",
    "PowerReport",
    "ResultAck",
    "ThroughputAtSLA",
    "Validity",
    "WorkerSpec",
    "ack_topic",
    "check_device_id",
    "check_id",
    "decode",
    "device_id_from_topic",
    "device_topic",
    "encode",
    "from_dict",
    "job_topic",
    "local_device_id",
    "parse_broker_url",
    "result_topic",
    "status_topic",
    "to_dict",
]
