# A small image that runs `omniroute serve` (embedded ledger, demo network unless --data is given)
# as a non-root user, with a gRPC health check.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    NUMBA_CACHE_DIR=/home/omniroute/.cache/numba \
    OMNIROUTE_HOST=0.0.0.0 \
    OMNIROUTE_PORT=50051

RUN useradd --create-home --uid 10001 omniroute
COPY pyproject.toml README.md /src/
COPY availability /src/availability
COPY router /src/router
COPY omniroute /src/omniroute
# The sources go once installed: numba keys its on-disk cache by the importing file's path, so the
# warm-up below must import the installed package, exactly as `omniroute serve` will.
RUN pip install /src && rm -rf /src /root/.cache

USER omniroute
WORKDIR /home/omniroute
# Compile the numba kernels (engine and router) into the user's cache at build time, not on the first start.
RUN python -c "from availability import _kernels; _kernels.warm_up(); import router; router.warm_up()"

EXPOSE 50051
HEALTHCHECK --interval=10s --timeout=4s --start-period=30s --retries=3 \
  CMD ["omniroute", "health", "--target", "127.0.0.1:50051", "--timeout", "3"]
ENTRYPOINT ["omniroute", "serve"]
