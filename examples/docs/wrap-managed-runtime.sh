# Managed runtimes (Python, Node.js, Java, .NET, Ruby): add the layer and point
# AWS_LAMBDA_EXEC_WRAPPER at its wrapper script. Lambda then starts the runtime through lctrace.
LAYER_ARN="arn:aws:lambda:us-east-1:123456789012:layer:lctrace:1"   # the layer you published

aws lambda update-function-configuration \
  --function-name my-function \
  --layers "$LAYER_ARN" \
  --environment "Variables={AWS_LAMBDA_EXEC_WRAPPER=/opt/lctrace-wrapper,LCTRACE_EXPORTER=log}"
