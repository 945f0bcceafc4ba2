"""The Lambda side: the Runtime-API proxy, lifecycle state machine, watchdog and exporters.

Imports only the standard library and OpenTelemetry - never pandas, boto3 or typer - and defers
heavy imports off the cold-start path.
"""
