# Anything AWS exports: lctrace detects the format of each file
lctrace analyze logs.json traces.jsonl
# Other views of the same report
lctrace analyze logs.json --format json -o report.json
lctrace analyze logs.json --format html -o report.html
lctrace analyze logs.json --format csv -o invocations.csv
# Fail a CI job when a runtime hangs
lctrace analyze logs.json --fail-on never_polled,stopped_polling
