# lctrace's collector: every stream of the function's log group, every page, resumable
lctrace collect logs --function my-function --since 2h -o logs.jsonl.gz
# Only the lifecycle lines, through CloudWatch Logs Insights (for very large groups)
lctrace collect logs --function my-function --since 7d --insights -o lifecycle.jsonl
# X-Ray traces of the same function (Initialization / Invocation / Overhead subsegments)
lctrace collect traces --function my-function --since 2h -o traces.jsonl
lctrace analyze logs.jsonl.gz traces.jsonl

# Or with the AWS CLI alone; lctrace reads all of these as they are
aws logs filter-log-events --log-group-name /aws/lambda/my-function \
  --start-time "$(( ($(date +%s) - 7200) * 1000 ))" > filter-log-events.json
aws logs tail /aws/lambda/my-function --since 2h > tail.txt
aws xray batch-get-traces --trace-ids 1-6437350a-775b7afb3067811a4c6daade > traces.json
