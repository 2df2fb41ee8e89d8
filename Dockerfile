# The course server in a container, built the way notebook 05 teaches:
#   docker build -t course-api .
#   docker run --rm -p 8000:8000 --name course-api course-api
#   curl "http://127.0.0.1:8000/items/5?q=somequery"
# It listens on $PORT when the platform sets one (Cloud Run, Azure Container Apps, ...), else on 8000.
# GPU: build with torch's CUDA 13.0 build (--build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu130), run with
#   docker run --gpus all -e COURSE_API_DEVICE=cuda -p 8000:8000 course-api
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The CPU build of torch (the same version) unless told otherwise: the default PyPI build bundles CUDA (GBs).
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu

# The user first: this layer never changes, so every rebuild reuses it.
RUN useradd --create-home --uid 10001 course

WORKDIR /app

# Dependencies first: this layer is rebuilt only when the pins change, not when the code does.
COPY requirements.txt constraints.txt ./
RUN pip install --no-cache-dir --extra-index-url "${TORCH_INDEX}" -r requirements.txt -c constraints.txt

# Then the code and the trained weights (they ship inside the package).
COPY pyproject.toml README.md ./
COPY course_api ./course_api
RUN pip install --no-cache-dir --no-deps .

# Never run a server as root.
USER 10001

EXPOSE 8000
# Slim images have no curl: ask Python. The health check is GET /, the course's health route, on the same port.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; port = os.environ.get('PORT', '8000'); sys.exit(urllib.request.urlopen(f'http://127.0.0.1:{port}/', timeout=4).status != 200)"]

# 0.0.0.0 inside the container, so that `docker run -p 8000:8000` can reach it. A shell expands ${PORT:-8000};
# exec makes uvicorn the container's main process, so `docker stop` (SIGTERM) reaches it.
CMD ["sh", "-c", "exec uvicorn --factory course_api.server.app:create_app --host 0.0.0.0 --port \"${PORT:-8000}\""]
