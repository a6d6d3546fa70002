"""Getting jobs to devices and results back: the host's MQTT connection and the local agent."""
