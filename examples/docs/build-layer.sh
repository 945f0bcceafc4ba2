# Build the layer zip for the function's Python version and architecture (dependencies from PyPI)
python collectors/layer/build.py --out dist/lctrace-layer.zip --python-version 3.12 --arch x86_64

# Publish it and note the LayerVersionArn it prints
aws lambda publish-layer-version --layer-name lctrace \
  --zip-file fileb://dist/lctrace-layer.zip \
  --compatible-architectures x86_64 \
  --compatible-runtimes python3.12 nodejs20.x java21 provided.al2023
