#!/bin/sh
# bootstrap of a custom runtime (provided.al2023 / provided.al2): Lambda does not honour
# AWS_LAMBDA_EXEC_WRAPPER here, so the bootstrap itself starts the real runtime through lctrace.
# ./runtime is your previous bootstrap (renamed); it gets the original arguments.
exec /opt/lctrace-wrapper "$LAMBDA_TASK_ROOT/runtime" "$@"
