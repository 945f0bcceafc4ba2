# Container image on an AWS base image: the base image's runtime honours AWS_LAMBDA_EXEC_WRAPPER.
FROM public.ecr.aws/lambda/python:3.12
# The layer's content (lctrace-wrapper and its Python packages) copied into /opt
COPY lctrace-layer/ /opt/
ENV AWS_LAMBDA_EXEC_WRAPPER=/opt/lctrace-wrapper
COPY app.py ${LAMBDA_TASK_ROOT}/
CMD ["app.handler"]
