# Container image with its own runtime client: wrap the entrypoint itself.
FROM python:3.12-slim
RUN pip install --no-cache-dir awslambdaric lifecycle-trace
COPY app.py /function/
WORKDIR /function
ENTRYPOINT ["lctrace", "wrap", "--", "python", "-m", "awslambdaric"]
CMD ["app.handler"]
