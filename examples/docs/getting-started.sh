# Install and run the main job on the bundled sample
python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/lctrace analyze examples/lambda-logs.json

# Run the whole test suite (lint, unit, functional and end-to-end tests)
bash .ci/run
