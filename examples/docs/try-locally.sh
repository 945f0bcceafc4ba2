# Run a bootstrap under the real AWS Runtime Interface Emulator with lctrace in front of it
# (RIE ignores AWS_LAMBDA_EXEC_WRAPPER, so the wrapper goes on the command line).
export AWS_LAMBDA_FUNCTION_TIMEOUT=3 LCTRACE_EXPORTER=log
aws-lambda-rie --runtime-interface-emulator-address 127.0.0.1:8080 \
  lctrace wrap -- python3 examples/bootstraps/runtime.py > rie.log 2>&1 &
sleep 1

# An invocation that keeps working 1 s after its response: billed post-response work
curl -s -XPOST http://127.0.0.1:8080/2015-03-31/functions/function/invocations \
  -d '{"action": "linger", "s": 1}'
kill %1

# The emulator's output and the wrapper's lines, analysed like CloudWatch logs
lctrace analyze rie.log
